-- Sampled metrics (METRICS_EVERY), graphed by status and capacity. Rows
-- older than 7 days are deleted at each sampling round, and each
-- instance keeps a bounded number of rows. A figure that could not be
-- read is NULL, never 0.
CREATE TABLE IF NOT EXISTS odoobot.instance_samples (
    instance     text        NOT NULL,
    at           timestamptz NOT NULL,
    memory_bytes bigint,
    cpu_nsec     bigint,
    response_us  bigint,
    PRIMARY KEY (instance, at)
);

CREATE INDEX IF NOT EXISTS instance_samples_at ON odoobot.instance_samples (at);

CREATE TABLE IF NOT EXISTS odoobot.host_samples (
    at         timestamptz PRIMARY KEY,
    mem_total  bigint NOT NULL,
    mem_used   bigint NOT NULL,
    disk_total bigint NOT NULL,
    disk_free  bigint NOT NULL
);
