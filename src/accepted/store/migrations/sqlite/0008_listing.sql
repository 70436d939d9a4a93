-- GET /jobs and bulk actions: the newest jobs of a (queue, status) pair, or of a
-- status, read backwards through an index and stopped after one page. (SQLite
-- ends every index entry with the rowid, which is `seq`: the order is built in.)
CREATE INDEX jobs_by_queue_status ON jobs (queue, status);
CREATE INDEX jobs_by_status ON jobs (status);
