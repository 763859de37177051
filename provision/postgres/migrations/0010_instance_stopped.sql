-- An instance an operator stopped on purpose (stop), until start or
-- restart: who, and when. The watcher leaves it alone across odoobot's
-- restarts, and status says so. Instances recorded before keep ''.
ALTER TABLE odoobot.instances
    ADD COLUMN IF NOT EXISTS stopped_by text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS stopped_at timestamptz;
