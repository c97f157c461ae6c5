-- How far the relay has moved each shop's event outbox (in the shop's file) into the job queue,
-- for the file generation it read.
CREATE TABLE event_relay (
    client_id INTEGER PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    generation TEXT NOT NULL,
    relayed_through INTEGER NOT NULL
);

-- When the relay last had nothing left to move (unix seconds): after a crash, only shops whose
-- files changed since then (less a margin) are looked at for events not yet moved.
CREATE TABLE event_relay_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    caught_up_at INTEGER NOT NULL
);
INSERT INTO event_relay_state (id, caught_up_at) VALUES (1, CAST(strftime('%s', 'now') AS INTEGER));
