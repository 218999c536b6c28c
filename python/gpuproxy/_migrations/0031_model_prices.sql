-- Inference gateway: per-model token prices in micro-dollars per million tokens.

CREATE TABLE model_prices (
    model TEXT PRIMARY KEY,
    input_micros_per_mtok BIGINT NOT NULL,
    output_micros_per_mtok BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
