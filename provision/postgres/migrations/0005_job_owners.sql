-- The processes that own jobs (odoobot.jobs.owner), one row per open
-- Store. A job is left open by a stopped process (an orphan, which
-- recovery rolls back) when its owner's row says so; see
-- provision/postgres/owner.go for the rule.
--
--   host, pid, pid_start  the owner's process: the machine's boot id and
--                         PID namespace, its PID and its start time (clock
--                         ticks since boot); host is '' when unknown. A
--                         process on the same host is checked directly.
--   lease_until           renewed by the live owner; an owner elsewhere
--                         whose lock is free is gone once it has passed.
--   closed_at             set by a Store's Close: the owner is gone.
CREATE TABLE IF NOT EXISTS odoobot.job_owners (
    id          integer     PRIMARY KEY,
    host        text        NOT NULL DEFAULT '',
    pid         integer     NOT NULL DEFAULT 0,
    pid_start   bigint      NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    closed_at   timestamptz
);
