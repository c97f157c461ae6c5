-- Shipping methods and tax by country (issue 17). Prices may be entered with tax included (a
-- shop setting); an order says which, and its CHECK follows: the total adds tax only when prices
-- did not include it. SQLite cannot change a CHECK in place, so `orders` is rebuilt (the runner
-- has foreign keys off; order_items, payments, refunds and order_events keep pointing at it).

CREATE TABLE shipping_methods (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- flat: price_cents; free_over: price_cents unless the discounted subtotal reaches
    -- free_over_cents; weight: the first band whose up_to_grams holds the cart's weight.
    kind TEXT NOT NULL CHECK (kind IN ('flat', 'free_over', 'weight')),
    price_cents INTEGER NOT NULL DEFAULT 0 CHECK (price_cents BETWEEN 0 AND 100000000),
    free_over_cents INTEGER CHECK (free_over_cents BETWEEN 0 AND 10000000000),
    -- JSON [{"up_to_grams": 1000, "price_cents": 495}, …], ascending.
    bands TEXT CHECK (bands IS NULL OR json_valid(bands)),
    -- JSON array of ISO 3166-1 alpha-2 codes; NULL ships everywhere.
    countries TEXT CHECK (countries IS NULL OR json_valid(countries)),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    position INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Tax in basis points by destination country; '*' for every other country. Without a row the
-- shop setting tax_rate_bp applies.
CREATE TABLE tax_rates (
    country TEXT PRIMARY KEY CHECK (country = '*' OR (length(country) = 2 AND country = upper(country))),
    rate_bp INTEGER NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000)
) WITHOUT ROWID;

ALTER TABLE shop_settings ADD COLUMN prices_include_tax INTEGER NOT NULL DEFAULT 0 CHECK (prices_include_tax IN (0, 1));
ALTER TABLE products ADD COLUMN weight_grams INTEGER NOT NULL DEFAULT 0 CHECK (weight_grams BETWEEN 0 AND 100000000);

CREATE TABLE orders_v7 (
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
    tax_included   INTEGER NOT NULL DEFAULT 0 CHECK (tax_included IN (0, 1)),
    total_cents    INTEGER NOT NULL CHECK (total_cents = subtotal_cents - discount_cents + shipping_cents
                                                         + CASE WHEN tax_included THEN 0 ELSE tax_cents END),
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
    shipping_method  TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    custom         TEXT CHECK (custom IS NULL OR json_valid(custom)),
    refunded_cents INTEGER NOT NULL DEFAULT 0,
    email          TEXT
);
INSERT INTO orders_v7 (id, number, user_id, customer_id, status, currency, subtotal_cents, discount_cents,
                       shipping_cents, tax_cents, total_cents, coupon_id, coupon_code, ship_name, ship_line1,
                       ship_line2, ship_city, ship_region, ship_postal_code, ship_country, ship_phone,
                       created_at, updated_at, custom, refunded_cents, email)
SELECT id, number, user_id, customer_id, status, currency, subtotal_cents, discount_cents,
       shipping_cents, tax_cents, total_cents, coupon_id, coupon_code, ship_name, ship_line1,
       ship_line2, ship_city, ship_region, ship_postal_code, ship_country, ship_phone,
       created_at, updated_at, custom, refunded_cents, email
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v7 RENAME TO orders;
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_customer ON orders (customer_id);
