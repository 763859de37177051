-- The Odoo an instance was created on, as its summary shows it: the
-- release's series and edition ("19.0 community"). '' for instances made
-- before it was recorded, and for imported ones.
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS odoo_version text NOT NULL DEFAULT '';
