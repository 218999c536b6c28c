-- Payments (Stripe, crypto, AfterDark): one row per payment attempt, moved through its
-- states by the provider's answers and webhooks. Card data is never stored: only Stripe
-- ids (pm_..., pi_..., cs_...).

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    -- stripe | crypto | afterdark
    provider TEXT NOT NULL,
    -- payment_intent | checkout | auto_renew | crypto_transfer | afterdark_checkout
    method TEXT NOT NULL,
    amount_micros BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- pending | requires_action | succeeded | failed | canceled
    status TEXT NOT NULL,
    external_id TEXT,
    -- caller's Idempotency-Key (scoped by user) or a generated one
    idempotency_key TEXT NOT NULL UNIQUE,
    details TEXT NOT NULL DEFAULT '{}',
    ledger_entry_id TEXT,
    failure_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX payments_provider_external ON payments (provider, external_id);
CREATE INDEX payments_user_time ON payments (user_id, created_at);

-- Webhook events seen, per provider (audit and cheap duplicate detection; crediting is
-- exactly-once through the ledger's idempotency keys whatever this table says).
CREATE TABLE payment_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
