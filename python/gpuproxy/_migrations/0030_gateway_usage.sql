-- Inference gateway: one row per forwarded (or refused after admission) request, written in
-- batches by the usage writer. Times are unix ms, durations microseconds, money micro-dollars.

CREATE TABLE gateway_usage (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    api_key_id TEXT,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    worker_id TEXT,
    pool TEXT NOT NULL DEFAULT '',
    stream INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    tokens_estimated INTEGER NOT NULL DEFAULT 0,
    cost_micros BIGINT NOT NULL DEFAULT 0,
    queue_us BIGINT NOT NULL DEFAULT 0,
    ttft_us BIGINT,
    latency_us BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX gateway_usage_user_time ON gateway_usage (user_id, created_at);
CREATE INDEX gateway_usage_model_time ON gateway_usage (model, created_at);
