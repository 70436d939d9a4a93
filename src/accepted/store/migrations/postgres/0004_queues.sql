-- Queue settings: a queue exists while it holds a job or has a setting here.
-- `paused`: a paused queue hands out nothing (claims skip it).
CREATE TABLE accepted_queues (
    name       text             PRIMARY KEY,
    paused     boolean          NOT NULL DEFAULT false,
    updated_at double precision NOT NULL
);

-- Jobs per queue and status, so GET /queues and the metrics gauges read a
-- few hundred rows instead of counting a million. One counter row per
-- (queue, status) updated by every write would serialise concurrent writers
-- of a queue across all nodes on its row lock; instead each writing
-- statement appends its net change to accepted_queue_count_deltas (append
-- only: no row is shared, nothing waits), and a background task folds the
-- deltas into accepted_queue_counts every second. A read adds both tables
-- up in one statement, so it is exact at its snapshot.
CREATE TABLE accepted_queue_counts (
    queue  text   NOT NULL,
    status text   NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, status)
);

CREATE TABLE accepted_queue_count_deltas (
    queue  text   NOT NULL,
    status text   NOT NULL,
    delta  bigint NOT NULL
);

ALTER TABLE accepted_queue_count_deltas SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);

INSERT INTO accepted_queue_counts (queue, status, n)
    SELECT queue, status, count(*) FROM accepted_jobs GROUP BY queue, status;

-- Statement-level triggers see a statement's rows as transition tables, so
-- an insert of a 1,000-job batch appends one row per (queue, status), not 1,000.
CREATE FUNCTION accepted_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accepted_queue_count_deltas (queue, status, delta)
        SELECT queue, status, count(*) FROM new_rows GROUP BY queue, status;
    RETURN NULL;
END $$;

CREATE FUNCTION accepted_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accepted_queue_count_deltas (queue, status, delta)
        SELECT queue, status, -count(*) FROM old_rows GROUP BY queue, status;
    RETURN NULL;
END $$;

CREATE FUNCTION accepted_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accepted_queue_count_deltas (queue, status, delta)
        SELECT queue, status, sum(d) FROM (
            SELECT queue, status, -1 AS d FROM old_rows
            UNION ALL
            SELECT queue, status, 1 AS d FROM new_rows
        ) AS changes GROUP BY queue, status HAVING sum(d) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER accepted_jobs_count_insert AFTER INSERT ON accepted_jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION accepted_count_inserted();
CREATE TRIGGER accepted_jobs_count_delete AFTER DELETE ON accepted_jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION accepted_count_deleted();
CREATE TRIGGER accepted_jobs_count_update AFTER UPDATE ON accepted_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION accepted_count_updated();
