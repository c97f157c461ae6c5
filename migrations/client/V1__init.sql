-- One shop's own data. Money is integer cents; timestamps are RFC 3339 UTC text.

-- Which registry client this file belongs to: checked every time the file is opened, so a file
-- that lands under the wrong name is refused instead of served.
CREATE TABLE shop (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    client_id  INTEGER NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- The shop's customers' accounts (storefront sign-in).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Buying history per customer, kept by checkout for the admin's customer list.
CREATE TABLE customers (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    name              TEXT    NOT NULL,
    email             TEXT    NOT NULL COLLATE NOCASE,
    orders_count      INTEGER NOT NULL DEFAULT 0 CHECK (orders_count >= 0),
    total_spent_cents INTEGER NOT NULL DEFAULT 0 CHECK (total_spent_cents >= 0),
    last_order_at     TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX customers_email ON customers (email);

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug       TEXT    NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 200),
    parent_id  INTEGER REFERENCES categories (id) ON DELETE RESTRICT,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    category_id  INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug         TEXT    NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 200),
    description  TEXT    NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    stock        INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    active       INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    rating_sum   INTEGER NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    rating_count INTEGER NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX products_category ON products (category_id, active);
CREATE INDEX products_active ON products (active, id);

CREATE TABLE addresses (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    line1       TEXT    NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
    line2       TEXT    CHECK (line2 IS NULL OR length(line2) <= 200),
    city        TEXT    NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    region      TEXT    CHECK (region IS NULL OR length(region) <= 100),
    postal_code TEXT    NOT NULL CHECK (length(postal_code) BETWEEN 1 AND 20),
    country     TEXT    NOT NULL CHECK (length(country) = 2),
    phone       TEXT    CHECK (phone IS NULL OR length(phone) <= 40),
    is_default  INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX addresses_user ON addresses (user_id);

CREATE TABLE coupons (
    id                 INTEGER PRIMARY KEY,
    code               TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(code) BETWEEN 1 AND 40),
    kind               TEXT    NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value              INTEGER NOT NULL CHECK (value > 0),
    min_subtotal_cents INTEGER CHECK (min_subtotal_cents IS NULL OR min_subtotal_cents >= 0),
    max_uses           INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    uses               INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at         TEXT,
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK (kind <> 'percent' OR value <= 100),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);

CREATE TABLE orders (
    id             INTEGER PRIMARY KEY,
    number         TEXT    NOT NULL UNIQUE,
    user_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    customer_id    INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    status         TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    subtotal_cents INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    discount_cents INTEGER NOT NULL DEFAULT 0 CHECK (discount_cents >= 0 AND discount_cents <= subtotal_cents),
    total_cents    INTEGER NOT NULL CHECK (total_cents = subtotal_cents - discount_cents),
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
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_customer ON orders (customer_id);

CREATE TABLE order_items (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       INTEGER REFERENCES products (id) ON DELETE SET NULL,
    name             TEXT    NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents = unit_price_cents * quantity)
);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_product ON order_items (product_id);

CREATE TABLE cart_items (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (user_id, product_id)
);
CREATE INDEX cart_items_product ON cart_items (product_id);

CREATE TABLE product_reviews (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title      TEXT    CHECK (title IS NULL OR length(title) <= 200),
    body       TEXT    CHECK (body IS NULL OR length(body) <= 5000),
    hidden     INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (product_id, user_id)
);
CREATE INDEX product_reviews_user ON product_reviews (user_id);

-- `seq` orders views newest first without relying on clock resolution.
CREATE TABLE recently_viewed (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    viewed_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (user_id, product_id)
) WITHOUT ROWID;
CREATE INDEX recently_viewed_user_seq ON recently_viewed (user_id, seq DESC);
CREATE INDEX recently_viewed_product ON recently_viewed (product_id);
