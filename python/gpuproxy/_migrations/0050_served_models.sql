-- Model serving: the registry of uploaded models. The file itself lives in storage
-- (DATA_DIR/models/<id>.onnx); a row exists only once its file is complete and validated.
-- `inputs`/`outputs` are JSON lists of {name, datatype, shape} read from the ONNX graph.

CREATE TABLE served_models (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    source_format TEXT NOT NULL,
    visibility TEXT NOT NULL DEFAULT 'private',
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    price_per_call_micros BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (owner_id, name, version)
);

CREATE INDEX served_models_name ON served_models (name, visibility);
