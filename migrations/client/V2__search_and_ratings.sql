-- Full-text search over product names and descriptions, kept in sync by triggers, and product
-- rating totals kept in sync with visible reviews.

CREATE VIRTUAL TABLE products_fts USING fts5(
    name, description,
    content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
END;

CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
END;

CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO products_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
END;

INSERT INTO products_fts (products_fts) VALUES ('rebuild');

CREATE TRIGGER reviews_rating_insert AFTER INSERT ON product_reviews WHEN new.hidden = 0 BEGIN
    UPDATE products SET rating_sum = rating_sum + new.rating, rating_count = rating_count + 1 WHERE id = new.product_id;
END;

CREATE TRIGGER reviews_rating_update AFTER UPDATE OF rating, hidden ON product_reviews BEGIN
    UPDATE products SET rating_sum = rating_sum - old.rating, rating_count = rating_count - 1
     WHERE id = old.product_id AND old.hidden = 0;
    UPDATE products SET rating_sum = rating_sum + new.rating, rating_count = rating_count + 1
     WHERE id = new.product_id AND new.hidden = 0;
END;

CREATE TRIGGER reviews_rating_delete AFTER DELETE ON product_reviews WHEN old.hidden = 0 BEGIN
    UPDATE products SET rating_sum = rating_sum - old.rating, rating_count = rating_count - 1 WHERE id = old.product_id;
END;
