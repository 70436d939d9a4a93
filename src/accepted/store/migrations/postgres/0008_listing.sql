-- GET /jobs and bulk actions: the newest jobs of a (queue, status) pair, or of a
-- status, read backwards through an index and stopped after one page.
CREATE INDEX accepted_jobs_by_queue_status ON accepted_jobs (queue, status, seq);
CREATE INDEX accepted_jobs_by_status ON accepted_jobs (status, seq);
