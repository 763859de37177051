-- The process that runs a job: a random id whose PostgreSQL advisory lock
-- (ownerLockSpace, owner) that process holds while it lives. A job whose
-- owner's lock is free was left open by a process that stopped.
ALTER TABLE odoobot.jobs ADD COLUMN IF NOT EXISTS owner integer;
