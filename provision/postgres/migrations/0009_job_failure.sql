-- Which step a failed job failed at, and why (provision.JobFailure): the
-- kind of its error when a driver typed it (refused, conflict,
-- unavailable, broken), its cause in words with what to do (no driver
-- text), and the steps whose undo failed. Jobs recorded before keep ''.
ALTER TABLE odoobot.jobs
    ADD COLUMN IF NOT EXISTS failed_step text   NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS error_kind  text   NOT NULL DEFAULT ''
        CHECK (error_kind IN ('', 'refused', 'conflict', 'unavailable', 'broken')),
    ADD COLUMN IF NOT EXISTS error_hint  text   NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS left_behind text[] NOT NULL DEFAULT '{}';
