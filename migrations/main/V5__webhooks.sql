-- Shop webhooks and their delivery log. They live in main.db beside the job queue that delivers
-- them (as tokens do), keyed by shop and removed with it; every query names the shop.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    client_id       INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    url             TEXT    NOT NULL CHECK (length(url) BETWEEN 10 AND 2000),
    events          TEXT    NOT NULL, -- JSON array of event names
    secret          TEXT    NOT NULL CHECK (length(secret) >= 32),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- set by the first failed delivery after a success; an endpoint failing for a day is disabled
    failing_since   TEXT,
    disabled_reason TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX webhooks_client ON webhooks (client_id, id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    client_id       INTEGER NOT NULL,
    event_id        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    last_error      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    delivered_at    TEXT
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
