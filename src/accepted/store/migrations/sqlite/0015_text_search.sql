-- Text search (`GET /jobs?q=`): a trigram index of each job's params and of
-- its result, so a search reads the jobs holding every trigram of the text
-- instead of every row. Without positions (detail=none): the index only
-- narrows the candidates, and the listing checks each one with the same LIKE
-- as an unindexed search, so what `q` matches is unchanged.
--
-- Written behind the jobs, not with them: FTS5 pays a fixed cost per
-- transaction and table (a new segment, merges) several times a small
-- enqueue's own, so a background task (`SqliteStore.index_text`) indexes new
-- jobs and new results in batches, and a search reads the few rows not
-- indexed yet directly (the jobs above `indexed_seq`, the results listed in
-- `text_pending`).
CREATE VIRTUAL TABLE jobs_params_text USING fts5(
    body, content='', tokenize='trigram', detail='none'
);
-- Results change (a report), so this one keeps its text to delete by rowid.
-- A result of `null` is not indexed (see sqlite_listing.trigram_query).
CREATE VIRTUAL TABLE jobs_results_text USING fts5(
    body, tokenize='trigram', detail='none'
);
-- Every job with seq <= indexed_seq has its params, and its result unless
-- that seq is in text_pending, in the index.
CREATE TABLE text_index (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_seq INTEGER NOT NULL
);
INSERT INTO text_index (id, indexed_seq) VALUES (1, 0);
CREATE TABLE text_pending (seq INTEGER PRIMARY KEY);
CREATE TRIGGER jobs_text_result AFTER UPDATE OF result ON jobs
    WHEN NEW.result IS NOT OLD.result AND NEW.seq <= (SELECT indexed_seq FROM text_index)
BEGIN
    INSERT OR IGNORE INTO text_pending (seq) VALUES (NEW.seq);
END;
-- A contentless table forgets a row only when given the text it indexed.
CREATE TRIGGER jobs_text_gone AFTER DELETE ON jobs
    WHEN OLD.seq <= (SELECT indexed_seq FROM text_index)
BEGIN
    INSERT INTO jobs_params_text (jobs_params_text, rowid, body)
        VALUES ('delete', OLD.seq, CAST(OLD.params AS TEXT));
    DELETE FROM jobs_results_text WHERE rowid = OLD.seq;
    DELETE FROM text_pending WHERE seq = OLD.seq;
END;
-- A rowid is reused after the newest job is deleted: one at or below the mark
-- is not indexed yet, so the mark moves back below it.
CREATE TRIGGER jobs_text_reused AFTER INSERT ON jobs
    WHEN NEW.seq <= (SELECT indexed_seq FROM text_index)
BEGIN
    UPDATE text_index SET indexed_seq = NEW.seq - 1;
END;
