-- Clients imported from a single-database VergeFlow (`vergeflow import`, issue 13): one row per
-- source and legacy client id (0: the source's global part: super admins, settings, content).
-- `importing` marks a shop whose file is being filled: it stays `provisioning` (never served, and
-- start-up leaves it alone) until the import makes it active and `done` in one transaction.
CREATE TABLE legacy_imports (
    source      TEXT    NOT NULL,
    legacy_id   INTEGER NOT NULL,
    client_id   INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    status      TEXT    NOT NULL CHECK (status IN ('importing', 'done')),
    report      TEXT    CHECK (report IS NULL OR json_valid(report)),
    started_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    finished_at TEXT,
    PRIMARY KEY (source, legacy_id)
);
CREATE INDEX legacy_imports_client ON legacy_imports (client_id);
