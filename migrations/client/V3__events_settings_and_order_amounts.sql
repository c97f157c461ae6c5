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

-- The shop's own settings (one row): what checkout charges, mail says and auto-cancel waits for.
CREATE TABLE shop_settings (
    id                       INTEGER PRIMARY KEY CHECK (id = 1),
    currency                 TEXT    NOT NULL DEFAULT 'USD' CHECK (length(currency) = 3 AND currency = upper(currency)),
    tax_rate_bp              INTEGER NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    shipping_flat_cents      INTEGER NOT NULL DEFAULT 0 CHECK (shipping_flat_cents BETWEEN 0 AND 100000000),
    free_shipping_over_cents INTEGER CHECK (free_shipping_over_cents BETWEEN 0 AND 10000000000),
    auto_cancel_unpaid_hours INTEGER CHECK (auto_cancel_unpaid_hours BETWEEN 1 AND 720),
    low_stock_threshold      INTEGER NOT NULL DEFAULT 5 CHECK (low_stock_threshold BETWEEN 0 AND 1000000),
    locale                   TEXT    NOT NULL DEFAULT 'en' CHECK (length(locale) BETWEEN 2 AND 35),
    mail_sender_name         TEXT    CHECK (length(mail_sender_name) BETWEEN 1 AND 100),
    updated_at               TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO shop_settings (id) VALUES (1);

-- Orders carry shipping, tax and their currency; the total is what the customer pays. SQLite
-- cannot change a CHECK in place, so the table is rebuilt (the migration runs with foreign keys
-- off, in one transaction with the rest; order_items keep pointing at `orders`).
CREATE TABLE orders_v3 (
    id             INTEGER PRIMARY KEY,
    number         TEXT    NOT NULL UNIQUE,
    user_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    customer_id    INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    status         TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    currency       TEXT    NOT NULL DEFAULT 'USD',
    subtotal_cents INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    discount_cents INTEGER NOT NULL DEFAULT 0 CHECK (discount_cents >= 0 AND discount_cents <= subtotal_cents),
    shipping_cents INTEGER NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0),
    tax_cents      INTEGER NOT NULL DEFAULT 0 CHECK (tax_cents >= 0),
    total_cents    INTEGER NOT NULL CHECK (total_cents = subtotal_cents - discount_cents + shipping_cents + tax_cents),
    coupon_id      INTEGER REFERENCES coupons (id) ON DELETE SET NULL,
    coupon_code    TEXT,
    ship_name        TEXT NOT NULL,
    ship_line1       TEXT NOT NULL,
    ship_line2       TEXT,
    ship_city        TEXT NOT NULL,
    ship_region      TEXT,
    ship_postal_code TEXT NOT NULL,
    ship_country     TEXT NOT NULL,
    ship_phone       TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO orders_v3 (id, number, user_id, customer_id, status, subtotal_cents, discount_cents, total_cents,
                       coupon_id, coupon_code, ship_name, ship_line1, ship_line2, ship_city, ship_region,
                       ship_postal_code, ship_country, ship_phone, created_at, updated_at)
SELECT id, number, user_id, customer_id, status, subtotal_cents, discount_cents, total_cents,
       coupon_id, coupon_code, ship_name, ship_line1, ship_line2, ship_city, ship_region,
       ship_postal_code, ship_country, ship_phone, created_at, updated_at
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v3 RENAME TO orders;
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_customer ON orders (customer_id);

-- The shop's own content, the same shape as the global banners and pages in main.db: the
-- storefront shows both (a shop's page wins over a global one with the same slug).
CREATE TABLE banners (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    image_url  TEXT,
    link_url   TEXT,
    position   INTEGER NOT NULL DEFAULT 0,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    starts_at  TEXT,
    ends_at    TEXT,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE pages (
    id         INTEGER PRIMARY KEY,
    slug       TEXT    NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 100),
    title      TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       TEXT    NOT NULL DEFAULT '',
    published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
