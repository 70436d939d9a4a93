-- Nothing to change here: SQLite's attempt history traded its foreign key for
-- a delete trigger in this migration; PostgreSQL keeps ON DELETE CASCADE. The
-- file keeps the two dialects' migration numbers in step.
SELECT 1;
