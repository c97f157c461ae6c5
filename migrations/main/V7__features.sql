-- A shop's feature overrides, {"name": bool}; the global defaults are settings['features'] (absent: on).
ALTER TABLE clients ADD COLUMN features TEXT NOT NULL DEFAULT '{}';
