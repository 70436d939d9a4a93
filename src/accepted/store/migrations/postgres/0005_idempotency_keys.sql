-- Idempotency-Key: one row per (scope, key) while it holds, written in the
-- same transaction as the job it made; the primary key makes it unique
-- across every node.
CREATE TABLE accepted_idempotency_keys (
    scope       text             NOT NULL,
    key         text             NOT NULL,
    fingerprint text             NOT NULL,
    job_id      uuid             NOT NULL,
    expires_at  double precision NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX accepted_idempotency_keys_expiry ON accepted_idempotency_keys (expires_at);
