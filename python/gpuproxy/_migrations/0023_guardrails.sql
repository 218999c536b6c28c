-- Guard rails: per-user window limits set by admins (override GUARDRAILS_MAX_*_RATE), and
-- the notifications soft alerts (50/80/95% of a window's limit) are stored as.

CREATE TABLE guardrail_limits (
    user_id TEXT NOT NULL,
    window_minutes INTEGER NOT NULL,
    -- micro-dollars; 0 = no limit in this window for this user
    limit_micros BIGINT NOT NULL,
    updated_by TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, window_minutes)
);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- info | warning | critical
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user_time ON notifications (user_id, created_at);
