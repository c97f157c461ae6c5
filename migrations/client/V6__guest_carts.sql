-- Guest checkout (issue 17): anonymous carts known by a random token (only its SHA-256 kept), a
-- cart line belonging to a customer or to such a cart, and an order's e-mail for guests.
CREATE TABLE carts (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX carts_expires ON carts (expires_at);

CREATE TABLE cart_items_v6 (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    cart_id    INTEGER REFERENCES carts (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((user_id IS NULL) <> (cart_id IS NULL))
);
INSERT INTO cart_items_v6 (id, user_id, product_id, quantity, created_at, updated_at)
    SELECT id, user_id, product_id, quantity, created_at, updated_at FROM cart_items;
DROP TABLE cart_items;
ALTER TABLE cart_items_v6 RENAME TO cart_items;
CREATE INDEX cart_items_product ON cart_items (product_id);
-- One line per product and owner. Partial, so a customer's line writes no entry into the guests'
-- index and the other way round (a checkout adds and removes lines: each index is a page written).
CREATE UNIQUE INDEX cart_items_user ON cart_items (user_id, product_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX cart_items_cart ON cart_items (cart_id, product_id) WHERE cart_id IS NOT NULL;

-- A guest's order keeps the address it was placed with (user_id and customer's account are NULL).
ALTER TABLE orders ADD COLUMN email TEXT;
