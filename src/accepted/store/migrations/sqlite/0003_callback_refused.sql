-- A callback the destination rule refuses ends in its own state, `refused`.
-- Nothing to change here: SQLite's callback_state has no CHECK constraint.
SELECT 1;
