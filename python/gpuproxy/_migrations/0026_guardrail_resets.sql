-- Guard-rail resets by admins (API or CLI): every server forgets the user's spending in its
-- local windows once it sees a newer reset here (or on the key-value reset channel), and
-- spending views derived from the ledger start counting at reset_at.

CREATE TABLE guardrail_resets (
    user_id TEXT PRIMARY KEY,
    reset_at BIGINT NOT NULL,
    reset_by TEXT
);
CREATE INDEX guardrail_resets_time ON guardrail_resets (reset_at);
