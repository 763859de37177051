-- 0001: instances, their ports, jobs, job events and the audit log.
-- Applied by Store.Open inside one transaction, recorded in
-- odoobot.schema_migrations.

-- One Odoo production instance. Ports are also held in odoobot.ports, whose
-- constraints make a double allocation impossible; both are written by the
-- same transaction.
CREATE TABLE odoobot.instances (
    name        text        PRIMARY KEY,
    domain      text        NOT NULL UNIQUE,
    internal    text        NOT NULL UNIQUE,
    unit        text        NOT NULL,
    ssl_mode    text        NOT NULL,
    http_port   integer,
    gevent_port integer,
    state       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A port taken by an instance: one port per kind per instance, and a port
-- of a kind belongs to at most one instance.
CREATE TABLE odoobot.ports (
    kind     text    NOT NULL CHECK (kind IN ('http', 'gevent')),
    port     integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    instance text    NOT NULL REFERENCES odoobot.instances (name) ON DELETE CASCADE,
    PRIMARY KEY (kind, port),
    UNIQUE (instance, kind)
);

-- A unit of background work. instance is not a foreign key: the record of
-- a deletion outlives the instance it deleted.
CREATE TABLE odoobot.jobs (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind <> ''),
    instance     text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'rolled_back', 'interrupted')),
    requested_by text        NOT NULL DEFAULT '',
    params       jsonb       NOT NULL DEFAULT '{}',
    error        text        NOT NULL DEFAULT '',
    undone       text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    chat_ref     jsonb       NOT NULL DEFAULT '{}'
);

-- Only one open job may touch an instance at a time.
CREATE UNIQUE INDEX jobs_one_open_per_instance ON odoobot.jobs (instance)
    WHERE state IN ('queued', 'running');

-- A job's progress, in the order it happened.
CREATE TABLE odoobot.job_events (
    id          bigserial   PRIMARY KEY,
    job_id      bigint      NOT NULL REFERENCES odoobot.jobs (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    step        text        NOT NULL DEFAULT '',
    kind        text        NOT NULL CHECK (kind IN ('start', 'done', 'failed', 'undo', 'undone', 'undo_failed', 'info')),
    message     text        NOT NULL DEFAULT '',
    duration_ms bigint      NOT NULL DEFAULT 0
);

CREATE INDEX job_events_job_id ON odoobot.job_events (job_id, id);

-- Every command attempt, allowed or not.
CREATE TABLE odoobot.audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    platform    text        NOT NULL DEFAULT '',
    user_id     text        NOT NULL DEFAULT '',
    user_name   text        NOT NULL DEFAULT '',
    channel     text        NOT NULL DEFAULT '',
    command     text        NOT NULL DEFAULT '',
    decision    text        NOT NULL CHECK (decision IN ('allowed', 'denied', 'invalid')),
    outcome     text        NOT NULL DEFAULT '',
    duration_ms bigint      NOT NULL DEFAULT 0
);

CREATE INDEX audit_at ON odoobot.audit (at DESC, id DESC);
