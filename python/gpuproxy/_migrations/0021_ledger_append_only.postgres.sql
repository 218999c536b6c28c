-- The ledger is append-only: refuse UPDATE and DELETE at the database (PostgreSQL).
-- (SQLite gets no trigger: the migration runner splits at semicolons, and every write
-- path in gpuproxy.billing only inserts.)

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only (% refused)', TG_OP;
END
$$;

CREATE TRIGGER ledger_entries_no_change
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
