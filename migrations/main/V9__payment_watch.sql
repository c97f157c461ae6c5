-- Payments whose provider may know more than the shop file (issue 17): a Stripe payment from the
-- moment its PaymentIntent is asked for until it is settled. A crash between Stripe acting and the
-- shop file recording it leaves the row here; the reconciliation reads the intent back.
CREATE TABLE payment_watch (
    client_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    order_id INTEGER NOT NULL,
    since TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    checked_at TEXT,
    PRIMARY KEY (client_id, order_id)
) WITHOUT ROWID;
