-- The migration ledger: per shop, besides its schema_version, the last migration attempt.
-- migration_error: why the last attempt failed (NULL when it did not); such a shop answers 503
--   until a fleet migration (or `vergeflow migrate`) succeeds on it.
-- migration_at / migration_ms: when the last attempt ended and how long it took.
-- migration_running: set while an attempt runs; one a crash interrupted is settled at start-up
--   by reading the file's version (its transaction either committed or never happened).
ALTER TABLE clients ADD COLUMN migration_error TEXT;
ALTER TABLE clients ADD COLUMN migration_at TEXT;
ALTER TABLE clients ADD COLUMN migration_ms INTEGER;
ALTER TABLE clients ADD COLUMN migration_running INTEGER NOT NULL DEFAULT 0 CHECK (migration_running IN (0, 1));
CREATE INDEX clients_schema_version ON clients (schema_version);
