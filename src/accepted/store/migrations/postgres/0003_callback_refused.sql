-- A callback the destination rule refuses ends in its own state, `refused`.
ALTER TABLE accepted_jobs DROP CONSTRAINT accepted_jobs_callback_state_check;
ALTER TABLE accepted_jobs ADD CONSTRAINT accepted_jobs_callback_state_check CHECK (
    callback_state IN ('waiting', 'pending', 'delivered', 'gave_up', 'refused'));
