-- What serve keeps of its chat across a restart. approval_requests: the
-- open two-person approval requests (the command as typed, its
-- requester, where it was asked, its message, its expiry; never a
-- secret), deleted once decided or expired. alert_cards: the watcher's
-- open alert cards (their messages per chat platform, state and
-- timeline), deleted once closed.
CREATE TABLE IF NOT EXISTS odoobot.approval_requests (
    code       text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    request    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS odoobot.alert_cards (
    key        text PRIMARY KEY,
    card       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
