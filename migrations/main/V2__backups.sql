-- Backups and imports.
-- import_pending: the row belongs to a shop being imported; if the server stops before its file is
-- in place, start-up removes the row (and its admins) instead of building an empty shop.
ALTER TABLE clients ADD COLUMN import_pending INTEGER NOT NULL DEFAULT 0 CHECK (import_pending IN (0, 1));
-- backup_every: this shop's backup schedule ('6h', '1d', 'off'); NULL follows VERGEFLOW_BACKUP_EVERY.
ALTER TABLE clients ADD COLUMN backup_every TEXT CHECK (backup_every IS NULL OR length(backup_every) BETWEEN 2 AND 16);
-- When the scheduler last looked at this shop (copied it, or found it unchanged).
ALTER TABLE clients ADD COLUMN backup_checked_at TEXT;
