-- GPU time accrual: one row per rented instance while it is billed. The accrual job bills
-- whole minutes; billed_micros = floor(price_per_hour * billed_minutes / 60) exactly, so
-- per-minute rounding never drifts.

CREATE TABLE gpu_accruals (
    instance_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT '',
    price_per_hour_micros BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    billed_minutes BIGINT NOT NULL DEFAULT 0,
    billed_micros BIGINT NOT NULL DEFAULT 0,
    stopped_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX gpu_accruals_user ON gpu_accruals (user_id);
CREATE INDEX gpu_accruals_stopped ON gpu_accruals (stopped_at);
