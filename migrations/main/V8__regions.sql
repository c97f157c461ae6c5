-- Regions (issue 12): the storage root a shop's file lives in; NULL is the data folder. Names come
-- from VERGEFLOW_STORAGE_ROOTS; the server refuses to start while a shop names one it lacks.
ALTER TABLE clients ADD COLUMN region TEXT CHECK (region IS NULL OR length(region) BETWEEN 1 AND 32);
