-- The release an instance runs, recorded when its creation (or clone)
-- ends: the release's key in the cache, the Odoo repository (credentials
-- redacted), the commit, the interpreter its venv was made from and where
-- its Python dependencies come from (debian or pip). '' for instances
-- made before it was recorded, and for imported ones.
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS release_key text NOT NULL DEFAULT '';
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS release_repo text NOT NULL DEFAULT '';
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS release_commit text NOT NULL DEFAULT '';
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS release_python text NOT NULL DEFAULT '';
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS release_deps text NOT NULL DEFAULT '';
