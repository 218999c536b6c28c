-- GPU rentals: what users rented through the proxy (any provider) and multi-GPU reservations.
-- Portable conventions: TEXT ids, BIGINT unix milliseconds, BIGINT micro-dollars,
-- INTEGER 0/1 booleans, JSON as TEXT.
--
-- owner_id has no foreign key on purpose: a rental is billing history and must outlive the
-- deletion of its user (and tests may rent as principals that have no users row).

CREATE TABLE gpu_reservations (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    requested INTEGER NOT NULL,
    reserved INTEGER NOT NULL DEFAULT 0,
    all_or_nothing INTEGER NOT NULL DEFAULT 0,
    -- pending | complete | partial | failed | rolled_back
    status TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX gpu_reservations_owner ON gpu_reservations (owner_id, created_at);

CREATE TABLE gpu_instances (
    -- our id; the routes use (provider, provider_instance_id)
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    -- NULL while the rent call is in flight (or when it failed before the provider answered)
    provider_instance_id TEXT,
    offer_id TEXT NOT NULL,
    gpu_model TEXT NOT NULL DEFAULT '',
    num_gpus INTEGER NOT NULL DEFAULT 1,
    vram_gb INTEGER NOT NULL DEFAULT 0,
    -- micro-dollars per hour for the whole instance
    price_per_hour BIGINT NOT NULL DEFAULT 0,
    location TEXT NOT NULL DEFAULT '',
    -- renting | starting | running | stopped | failed | destroying | destroyed | unknown
    status TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    endpoint TEXT,
    -- the rent configuration as given (image, env names, ports, disk), JSON
    config TEXT NOT NULL DEFAULT '{}',
    reservation_id TEXT REFERENCES gpu_reservations(id),
    -- the billing hold taken for the first hour, released or settled at destroy
    billing_ref TEXT,
    -- the proxy process (host:pid) an instance's life is tied to (local fleet), else NULL
    node TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    running_at BIGINT,
    destroyed_at BIGINT
);
-- NULLs are distinct in unique indexes on both SQLite and PostgreSQL.
CREATE UNIQUE INDEX gpu_instances_provider_ref ON gpu_instances (provider, provider_instance_id);
CREATE INDEX gpu_instances_owner ON gpu_instances (owner_id, created_at);
CREATE INDEX gpu_instances_status ON gpu_instances (status);
CREATE INDEX gpu_instances_reservation ON gpu_instances (reservation_id);
