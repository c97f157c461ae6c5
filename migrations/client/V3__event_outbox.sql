-- What a change in this shop causes outside it (mail, webhooks), written in the change's own
-- transaction: an order that committed always has its row here. The server's relay moves each row
-- into main.db's job queue exactly once and deletes relayed rows now and then.
CREATE TABLE event_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Which copy of the shop's history this file holds. A restore or an import gives the file a new
-- one, so the relay's position in the old file's rows (kept in main.db) does not hide the new's.
CREATE TABLE event_outbox_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation TEXT NOT NULL
);
INSERT INTO event_outbox_generation (id, generation) VALUES (1, lower(hex(randomblob(16))));
