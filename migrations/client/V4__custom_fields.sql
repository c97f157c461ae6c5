-- Custom fields (issue 12): the shop admin defines fields on products, customers and orders; their
-- values live in a JSON object in the entity's own row (`custom`, NULL when it has none), so a read
-- costs one more column and a removed field is one UPDATE away from gone.
CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL CHECK (entity IN ('product', 'customer', 'order')),
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 40),
    label TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date', 'select')),
    -- JSON array of the allowed values of a `select` field; NULL for the other types.
    options TEXT,
    required INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1)),
    position INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (entity, key)
);

ALTER TABLE products ADD COLUMN custom TEXT CHECK (custom IS NULL OR json_valid(custom));
ALTER TABLE customers ADD COLUMN custom TEXT CHECK (custom IS NULL OR json_valid(custom));
ALTER TABLE orders ADD COLUMN custom TEXT CHECK (custom IS NULL OR json_valid(custom));
