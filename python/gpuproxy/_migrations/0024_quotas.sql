-- Usage quotas per user: GPU time and requests per period (period = reset interval counted
-- from anchor_at). Usage per period is kept in quota_usage.

CREATE TABLE usage_quotas (
    user_id TEXT PRIMARY KEY,
    -- NULL = unlimited
    max_gpu_seconds BIGINT,
    max_requests BIGINT,
    reset_interval_seconds BIGINT NOT NULL,
    anchor_at BIGINT NOT NULL,
    updated_by TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE quota_usage (
    user_id TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    gpu_seconds BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, period_start)
);
