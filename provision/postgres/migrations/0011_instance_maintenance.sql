-- A maintenance window an operator opened on an instance (maintenance
-- NAME DURATION [REASON]): until when its alerts are silenced, who opened
-- it and why. Instances recorded before keep none.
ALTER TABLE odoobot.instances
    ADD COLUMN IF NOT EXISTS maintenance_until  timestamptz,
    ADD COLUMN IF NOT EXISTS maintenance_by     text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS maintenance_reason text NOT NULL DEFAULT '';
