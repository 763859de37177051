-- The instance an instance is a staging copy of (clone); '' for any other.
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS staging_of text NOT NULL DEFAULT '';
