-- Billing: the append-only credits ledger and the per-user balance cache derived from it.
-- Money is BIGINT micro-dollars (1 USD = 1,000,000); times BIGINT unix ms; JSON as TEXT.
-- No foreign key to users: ledger rows are financial records and outlive the account.

CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    -- topup | usage | gpu_time | refund | adjustment
    type TEXT NOT NULL,
    -- signed: credits are positive, debits negative
    amount_micros BIGINT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    -- completed rows moved money; the balance is the sum of completed rows
    status TEXT NOT NULL DEFAULT 'completed',
    -- stripe | crypto | afterdark | gateway | gpu | admin | system
    provider TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    -- a replayed call with the same key returns this row instead of moving money again
    idempotency_key TEXT NOT NULL UNIQUE,
    actor_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_user_time ON ledger_entries (user_id, created_at);

-- Cache of the ledger per user (rebuilt by `aiserve-gpuproxy-admin reconcile`) plus the
-- credit settings (credits_cap, auto-renew, saved Stripe payment method).
CREATE TABLE credit_accounts (
    user_id TEXT PRIMARY KEY,
    balance_micros BIGINT NOT NULL DEFAULT 0,
    total_micros BIGINT NOT NULL DEFAULT 0,
    entry_count BIGINT NOT NULL DEFAULT 0,
    -- maximum overage; NULL follows CREDITS_DEFAULT_CAP
    cap_micros BIGINT,
    auto_renew INTEGER NOT NULL DEFAULT 0,
    auto_renew_threshold_micros BIGINT NOT NULL DEFAULT 0,
    auto_renew_amount_micros BIGINT NOT NULL DEFAULT 0,
    -- 1 until a debit crosses below the threshold; re-armed when the balance is back above
    auto_renew_armed INTEGER NOT NULL DEFAULT 1,
    auto_renew_seq BIGINT NOT NULL DEFAULT 0,
    stripe_customer_id TEXT,
    payment_method_id TEXT,
    updated_at BIGINT NOT NULL
);
