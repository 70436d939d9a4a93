-- Retries of failed jobs (how many, first delay, how many left), and when the
-- current hand-out began (the running attempt of the attempt history).
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN retry_backoff REAL NOT NULL DEFAULT 1.0;
ALTER TABLE jobs ADD COLUMN retries_left INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN started_at REAL;
