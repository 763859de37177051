-- The DNS records odoobot made (provision.DNSEntry): ownership of a record
-- rests on this table, not on the record's comment. A row is written
-- before the create is sent (record_id '' until it is confirmed), given
-- the record's ID after, turned into a tombstone (gone_at) when its
-- instance is deleted or its creation rolled back, and removed once the
-- record is gone. The sweep deletes only tombstoned rows' records.
CREATE TABLE IF NOT EXISTS odoobot.dns_records (
    key          bigserial   PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> ''),
    type         text        NOT NULL CHECK (type IN ('A', 'TXT')),
    content      text        NOT NULL,
    record_id    text        NOT NULL DEFAULT '',
    attempted_at timestamptz NOT NULL,
    created_on   timestamptz,
    gone_at      timestamptz
);
CREATE INDEX IF NOT EXISTS dns_records_name ON odoobot.dns_records (name);
CREATE UNIQUE INDEX IF NOT EXISTS dns_records_record_id ON odoobot.dns_records (record_id) WHERE record_id <> '';
