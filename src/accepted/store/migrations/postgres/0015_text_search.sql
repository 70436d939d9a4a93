-- Text search (`GET /jobs?q=`): each job's params and result as text in
-- tables of their own, with a pg_trgm GIN index, so a search reads the jobs
-- holding the text's trigrams instead of every row. Side tables rather than
-- indexes on accepted_jobs: every status change writes a new row version of
-- a job, and an index there would re-index the params each time; here only
-- an insert, a new result and a delete touch them. Kept by triggers.
CREATE TABLE accepted_params_text (
    job_seq bigint PRIMARY KEY,
    body    text   NOT NULL
);
CREATE TABLE accepted_results_text (
    job_seq bigint PRIMARY KEY,
    body    text   NOT NULL
);
-- A result of `null` (every job's until it reports) is not kept: a search
-- for text that `null` holds reads the jobs instead (postgres_listing).
CREATE FUNCTION accepted_text_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accepted_params_text (job_seq, body)
        VALUES (NEW.seq, convert_from(NEW.params, 'UTF8'));
    IF NEW.result <> 'null'::bytea THEN
        INSERT INTO accepted_results_text (job_seq, body)
            VALUES (NEW.seq, convert_from(NEW.result, 'UTF8'));
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION accepted_text_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.result = 'null'::bytea THEN
        DELETE FROM accepted_results_text WHERE job_seq = NEW.seq;
    ELSE
        INSERT INTO accepted_results_text (job_seq, body)
            VALUES (NEW.seq, convert_from(NEW.result, 'UTF8'))
            ON CONFLICT (job_seq) DO UPDATE SET body = EXCLUDED.body;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION accepted_text_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM accepted_params_text WHERE job_seq = OLD.seq;
    DELETE FROM accepted_results_text WHERE job_seq = OLD.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER accepted_text_added AFTER INSERT ON accepted_jobs
    FOR EACH ROW EXECUTE FUNCTION accepted_text_added();
CREATE TRIGGER accepted_text_result AFTER UPDATE OF result ON accepted_jobs
    FOR EACH ROW WHEN (NEW.result IS DISTINCT FROM OLD.result)
    EXECUTE FUNCTION accepted_text_result();
CREATE TRIGGER accepted_text_gone AFTER DELETE ON accepted_jobs
    FOR EACH ROW EXECUTE FUNCTION accepted_text_gone();
INSERT INTO accepted_params_text (job_seq, body)
    SELECT seq, convert_from(params, 'UTF8') FROM accepted_jobs;
INSERT INTO accepted_results_text (job_seq, body)
    SELECT seq, convert_from(result, 'UTF8') FROM accepted_jobs WHERE result <> 'null'::bytea;
-- The trigram indexes need the pg_trgm extension (PostgreSQL's contrib; a
-- trusted extension, so the database's owner may create it). Without it the
-- search still works, reading the side tables in full: slower, never wrong.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm unavailable (%): text search runs without an index', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX accepted_params_text_trgm ON accepted_params_text '
                'USING gin (body gin_trgm_ops)';
        EXECUTE 'CREATE INDEX accepted_results_text_trgm ON accepted_results_text '
                'USING gin (body gin_trgm_ops)';
    END IF;
END $$;
-- Statistics now, so the first searches of a big table plan well (a text in
-- most jobs is found walking backwards; a rare one through the index).
ANALYZE accepted_params_text;
ANALYZE accepted_results_text;
