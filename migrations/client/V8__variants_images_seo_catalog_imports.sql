-- Catalog depth (issue 18): options and variants, images stored in the shop's own file, SEO
-- fields, and catalogue CSV imports. Every product gets one default variant (options {}) whose id
-- is the product's id, carrying today's price and stock, so existing cart lines and order items
-- point at it without a lookup.

-- The product's options, in order: JSON [{"name": "size", "values": ["S", "M"]}, …].
ALTER TABLE products ADD COLUMN options TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(options));
ALTER TABLE products ADD COLUMN meta_title TEXT CHECK (meta_title IS NULL OR length(meta_title) <= 200);
ALTER TABLE products ADD COLUMN meta_description TEXT CHECK (meta_description IS NULL OR length(meta_description) <= 500);
ALTER TABLE categories ADD COLUMN meta_title TEXT CHECK (meta_title IS NULL OR length(meta_title) <= 200);
ALTER TABLE categories ADD COLUMN meta_description TEXT CHECK (meta_description IS NULL OR length(meta_description) <= 500);

CREATE TABLE variants (
    id                     INTEGER PRIMARY KEY,
    product_id             INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    -- Unique per shop when set; a product's default variant may have none.
    sku                    TEXT    UNIQUE CHECK (sku IS NULL OR length(sku) BETWEEN 1 AND 64),
    price_cents            INTEGER NOT NULL CHECK (price_cents >= 0),
    compare_at_price_cents INTEGER CHECK (compare_at_price_cents IS NULL OR compare_at_price_cents >= 0),
    stock                  INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    -- NULL: the product's weight.
    weight_grams           INTEGER CHECK (weight_grams IS NULL OR weight_grams BETWEEN 0 AND 100000000),
    -- JSON object option name → value, keys sorted (written by the application only), so the
    -- text is the combination and one product cannot hold the same combination twice.
    options                TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(options)),
    active                 INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    position               INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE UNIQUE INDEX variants_combination ON variants (product_id, options);
-- A product's variants in display order without a sort.
CREATE INDEX variants_product ON variants (product_id, position);

INSERT INTO variants (id, product_id, price_cents, stock, created_at, updated_at)
    SELECT id, id, price_cents, stock, created_at, updated_at FROM products;

-- Every product has a variant from its first moment, however it was inserted: its price and
-- stock as given become its default variant's.
CREATE TRIGGER products_default_variant AFTER INSERT ON products BEGIN
    INSERT INTO variants (product_id, price_cents, stock) VALUES (new.id, new.price_cents, new.stock);
END;

-- A product's price_cents and stock summarise its variants (the lowest active price, the stock of
-- the active ones), so lists, search, recently viewed and low-stock notices read one row.
CREATE TRIGGER variants_summary_insert AFTER INSERT ON variants BEGIN
    UPDATE products SET
        price_cents = COALESCE((SELECT MIN(price_cents) FROM variants WHERE product_id = new.product_id AND active = 1),
                               (SELECT MIN(price_cents) FROM variants WHERE product_id = new.product_id), 0),
        stock = (SELECT COALESCE(SUM(stock), 0) FROM variants WHERE product_id = new.product_id AND active = 1)
    WHERE id = new.product_id;
END;
CREATE TRIGGER variants_summary_update AFTER UPDATE OF price_cents, stock, active ON variants BEGIN
    UPDATE products SET
        price_cents = COALESCE((SELECT MIN(price_cents) FROM variants WHERE product_id = new.product_id AND active = 1),
                               (SELECT MIN(price_cents) FROM variants WHERE product_id = new.product_id), 0),
        stock = (SELECT COALESCE(SUM(stock), 0) FROM variants WHERE product_id = new.product_id AND active = 1)
    WHERE id = new.product_id;
END;
CREATE TRIGGER variants_summary_delete AFTER DELETE ON variants BEGIN
    UPDATE products SET
        price_cents = COALESCE((SELECT MIN(price_cents) FROM variants WHERE product_id = old.product_id AND active = 1),
                               (SELECT MIN(price_cents) FROM variants WHERE product_id = old.product_id), price_cents),
        stock = (SELECT COALESCE(SUM(stock), 0) FROM variants WHERE product_id = old.product_id AND active = 1)
    WHERE id = old.product_id;
END;

-- Cart lines name a variant (and keep the product for the v1 answer). Rebuilt for the unique
-- indexes; the runner has foreign keys off.
CREATE TABLE cart_items_v8 (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    cart_id    INTEGER REFERENCES carts (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variant_id INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((user_id IS NULL) <> (cart_id IS NULL))
);
INSERT INTO cart_items_v8 (id, user_id, cart_id, product_id, variant_id, quantity, created_at, updated_at)
    SELECT id, user_id, cart_id, product_id, product_id, quantity, created_at, updated_at FROM cart_items;
DROP TABLE cart_items;
ALTER TABLE cart_items_v8 RENAME TO cart_items;
CREATE INDEX cart_items_product ON cart_items (product_id);
CREATE INDEX cart_items_variant ON cart_items (variant_id);
CREATE UNIQUE INDEX cart_items_user ON cart_items (user_id, variant_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX cart_items_cart ON cart_items (cart_id, variant_id) WHERE cart_id IS NOT NULL;

-- Order items remember the variant sold, its SKU and its option values as they were.
ALTER TABLE order_items ADD COLUMN variant_id INTEGER REFERENCES variants (id) ON DELETE SET NULL;
ALTER TABLE order_items ADD COLUMN sku TEXT;
ALTER TABLE order_items ADD COLUMN variant_options TEXT;
UPDATE order_items SET variant_id = product_id WHERE product_id IS NOT NULL;
CREATE INDEX order_items_variant ON order_items (variant_id);

-- Images live in the shop's file, so backup, restore, export, moves and deletion carry them.
-- Metadata and bytes are apart: a product answer reads the small rows only.
CREATE TABLE images (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variant_id   INTEGER REFERENCES variants (id) ON DELETE SET NULL,
    position     INTEGER NOT NULL DEFAULT 0,
    alt          TEXT    NOT NULL DEFAULT '' CHECK (length(alt) <= 500),
    content_type TEXT    NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    size_bytes   INTEGER NOT NULL,
    etag         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX images_product ON images (product_id, position);
CREATE INDEX images_variant ON images (variant_id) WHERE variant_id IS NOT NULL;
-- The thumbnail first: reading it never walks the full image's overflow pages.
CREATE TABLE image_data (
    image_id  INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    thumbnail BLOB NOT NULL,
    full      BLOB NOT NULL
);

-- Catalogue CSV imports: the file waits here (in the shop's own file) for its job, which applies
-- it in chunks, each committed with the count of rows done, so an interrupted import resumes.
CREATE TABLE catalog_imports (
    id          INTEGER PRIMARY KEY,
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    dry_run     INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    csv         BLOB    NOT NULL,
    rows_total  INTEGER,
    rows_done   INTEGER NOT NULL DEFAULT 0,
    report      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(report)),
    error       TEXT,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    finished_at TEXT
);
