-- Queue settings: a queue exists while it holds a job or has a setting here.
-- `paused`: a paused queue hands out nothing (claims skip it).
CREATE TABLE queues (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    updated_at REAL    NOT NULL
) WITHOUT ROWID;

-- Jobs per queue and status, kept by triggers in the transaction that changes
-- the job, so GET /queues and the metrics gauges read a hundred rows instead
-- of counting a million. SQLite has one writer at a time, so a counter row
-- per (queue, status) costs no concurrency. Rows that reach 0 are removed.
CREATE TABLE queue_counts (
    queue  TEXT    NOT NULL,
    status TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, status)
) WITHOUT ROWID;

INSERT INTO queue_counts (queue, status, n)
    SELECT queue, status, count(*) FROM jobs GROUP BY queue, status;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO queue_counts (queue, status, n) VALUES (NEW.queue, NEW.status, 1)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND status = OLD.status;
    DELETE FROM queue_counts WHERE queue = OLD.queue AND status = OLD.status AND n <= 0;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, queue ON jobs
    WHEN OLD.status IS NOT NEW.status OR OLD.queue IS NOT NEW.queue BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND status = OLD.status;
    DELETE FROM queue_counts WHERE queue = OLD.queue AND status = OLD.status AND n <= 0;
    INSERT INTO queue_counts (queue, status, n) VALUES (NEW.queue, NEW.status, 1)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;
