-- Inference gateway: output speed per request (completion tokens per second of generation).
ALTER TABLE gateway_usage ADD COLUMN tokens_per_s DOUBLE PRECISION;
