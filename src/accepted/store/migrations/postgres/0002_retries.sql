-- Retries of failed jobs (how many, first delay, how many left), and when the
-- current hand-out began (the running attempt of the attempt history).
-- Constant defaults: PostgreSQL adds these columns without rewriting the table.
ALTER TABLE accepted_jobs
    ADD COLUMN retries integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_backoff double precision NOT NULL DEFAULT 1.0,
    ADD COLUMN retries_left integer NOT NULL DEFAULT 0,
    ADD COLUMN started_at double precision;
