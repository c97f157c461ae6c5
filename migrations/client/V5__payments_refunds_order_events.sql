-- Payments (issue 17): providers configured by the shop admin, one payment per order kept apart
-- from the order's fulfilment status, refunds, the order's history, and idempotency keys.

-- One row per provider the shop has configured. Secrets are sealed with the server's key
-- (see src/payments/secrets.rs) and never leave the server again.
CREATE TABLE payment_providers (
    provider TEXT PRIMARY KEY CHECK (provider IN ('manual', 'bank_transfer', 'cash_on_delivery', 'stripe')),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Shown to the buyer on the order (bank details, what to have ready).
    instructions TEXT,
    -- Stripe: 'automatic' captures when the buyer confirms; 'manual' authorises, the admin captures.
    capture TEXT NOT NULL DEFAULT 'automatic' CHECK (capture IN ('automatic', 'manual')),
    secret_key_sealed TEXT,
    webhook_secret_sealed TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- One payment per order, keyed by the order's id (no second index to write at every checkout).
CREATE TABLE payments (
    id INTEGER PRIMARY KEY REFERENCES orders (id),
    provider TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'authorized', 'captured', 'failed', 'refunded', 'partially_refunded')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    captured_cents INTEGER NOT NULL DEFAULT 0 CHECK (captured_cents >= 0),
    refunded_cents INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= captured_cents),
    -- The provider's id (a Stripe PaymentIntent) and what the buyer's browser needs to confirm it.
    provider_ref TEXT,
    client_secret TEXT,
    failure_reason TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
-- Only payments a provider knows (offline ones never write it).
CREATE INDEX payments_provider_ref ON payments (provider_ref) WHERE provider_ref IS NOT NULL;

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY,
    payment_id INTEGER NOT NULL REFERENCES payments (id),
    order_id INTEGER NOT NULL REFERENCES orders (id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    restocked INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    provider_ref TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX refunds_order ON refunds (order_id);

-- What happened to an order after it was placed, oldest first (its placing is the order row itself).
-- Notes may be shown to the customer.
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    kind TEXT NOT NULL,
    note TEXT,
    visible_to_customer INTEGER NOT NULL DEFAULT 0,
    data TEXT CHECK (data IS NULL OR json_valid(data)),
    actor TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- Provider events already handled (a replayed webhook is ignored).
CREATE TABLE payment_events_seen (
    event_id TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
) WITHOUT ROWID;

-- `Idempotency-Key`s of checkouts and refunds: the same key and body within 24 h answer what the
-- first request made; another body is refused.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- What the first request made (an order id, a refund id).
    result_id INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

ALTER TABLE orders ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0;
