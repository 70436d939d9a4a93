-- Per-queue limits and fairness groups (SPEC Part 2 "Shaping the flow").
--
-- Limits live on the queue's settings row: NULL means no such limit. A
-- queue with any limit is claimed in a transaction that locks its row
-- (SELECT ... FOR UPDATE), so two nodes claiming at once take turns and the
-- check and the hand-out commit together. `rate_log` holds the times of the
-- hand-outs inside the current rate window, oldest first: at most
-- `rate_jobs` of them.
ALTER TABLE accepted_queues
    ADD COLUMN rate_jobs integer,
    ADD COLUMN rate_per double precision,
    ADD COLUMN concurrency integer,
    ADD COLUMN group_concurrency integer,
    ADD COLUMN rate_log double precision[] NOT NULL DEFAULT '{}';

-- A job's fairness group, and its place in the rotation between groups:
-- `fair_rank` is a time on the due_at scale (NULL for a job without a group,
-- which is ordered by due_at as before). The claim orders by
-- coalesce(fair_rank, due_at), so a job without a group costs nothing extra.
-- Nullable columns without defaults: added without rewriting the table.
ALTER TABLE accepted_jobs
    ADD COLUMN fair_group text,
    ADD COLUMN fair_rank double precision;

DROP INDEX accepted_jobs_queued;
DROP INDEX accepted_jobs_queued_by_queue;
CREATE INDEX accepted_jobs_queued ON accepted_jobs (priority, coalesce(fair_rank, due_at), seq)
    WHERE status = 'queued';
CREATE INDEX accepted_jobs_queued_by_queue
    ON accepted_jobs (queue, priority, coalesce(fair_rank, due_at), seq)
    WHERE status = 'queued';
-- The longest-waiting grouped job (oldest_queued_age): grouped jobs only.
CREATE INDEX accepted_jobs_grouped_due ON accepted_jobs (queue, priority, due_at)
    WHERE status = 'queued' AND fair_rank IS NOT NULL;

-- Each group's last rank per queue and priority: a group's next job is ranked
-- after it, or at the queue's current head, whichever is later.
CREATE TABLE accepted_fair_groups (
    queue     text             NOT NULL,
    priority  integer          NOT NULL,
    name      text             NOT NULL,
    last_rank double precision NOT NULL,
    PRIMARY KEY (queue, priority, name)
);
