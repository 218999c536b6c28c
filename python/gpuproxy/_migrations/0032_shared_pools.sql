-- Inference gateway: shared pools. An admin shares one account's workers with every user
-- (all models, or the JSON list in `models`); the gateway routes to them after the caller's
-- own workers and bills their tokens at model prices.

CREATE TABLE shared_pools (
    name TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    models TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
