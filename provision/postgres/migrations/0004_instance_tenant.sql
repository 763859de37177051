-- The system user an instance runs as and the PostgreSQL role that owns
-- its database, each its own. '' for an instance that shares the service
-- user and odoobot's role: one imported from API-DEV, or made before
-- instances had their own.
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS system_user text NOT NULL DEFAULT '';
ALTER TABLE odoobot.instances ADD COLUMN IF NOT EXISTS db_role text NOT NULL DEFAULT '';

-- odoobot's state is its own: no other role may connect to its database
-- (the owner, odoobot's role, keeps its rights).
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
