-- Jobs that belong to a shop, retries with backoff, cancellation; the mail outbox, password
-- resets for shop customers, and the audit log.

-- jobs is rebuilt to widen its status CHECK ('cancelled'). client_id has no foreign key: a deleted
-- shop's job history stays readable (its pending jobs are cancelled when it is deleted).
CREATE TABLE jobs_v4 (
    id           INTEGER PRIMARY KEY,
    batch_id     INTEGER REFERENCES job_batches (id) ON DELETE SET NULL,
    client_id    INTEGER,
    kind         TEXT    NOT NULL,
    -- 0: the general workers' jobs; 1: mail, reset mails and webhook deliveries (the message lane)
    lane         INTEGER NOT NULL DEFAULT 0 CHECK (lane IN (0, 1)),
    payload      TEXT    NOT NULL DEFAULT '{}',
    status       TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 100),
    -- not before: when a retry is due (millisecond RFC 3339, compared as text)
    available_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_error   TEXT,
    result       TEXT,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    reserved_at  TEXT,
    finished_at  TEXT
);
INSERT INTO jobs_v4 (id, batch_id, kind, payload, status, attempts, result, created_at, reserved_at, finished_at)
    SELECT id, batch_id, kind, payload, status, attempts, result, created_at, reserved_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v4 RENAME TO jobs;
CREATE INDEX jobs_ready ON jobs (status, lane, available_at, id);
CREATE INDEX jobs_client ON jobs (client_id, status) WHERE client_id IS NOT NULL;

ALTER TABLE failed_jobs ADD COLUMN client_id INTEGER;
CREATE INDEX failed_jobs_job ON failed_jobs (job_id);

ALTER TABLE job_batches ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE job_batches ADD COLUMN done_jobs INTEGER NOT NULL DEFAULT 0;

-- Mail waiting to go out (and, for a while, what went). Sent by `send_mail` jobs.
CREATE TABLE mail_outbox (
    id         INTEGER PRIMARY KEY,
    client_id  INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    template   TEXT    NOT NULL,
    from_name  TEXT    NOT NULL,
    to_addr    TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    text_body  TEXT    NOT NULL,
    html_body  TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    sent_at    TEXT
);
CREATE INDEX mail_outbox_status ON mail_outbox (status, id);

-- Password reset tokens, for main users (client_id NULL) and for each shop's customers. Only the
-- SHA-256 of a token is stored; one per account, replaced by a newer request.
DROP TABLE password_reset_tokens;
CREATE TABLE password_reset_tokens (
    id         INTEGER PRIMARY KEY,
    client_id  INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL COLLATE NOCASE,
    token_hash TEXT    NOT NULL CHECK (length(token_hash) = 64),
    expires_at TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE UNIQUE INDEX password_reset_tokens_account ON password_reset_tokens (ifnull(client_id, 0), email);

-- Every super-admin and shop-admin mutation, and shop lifecycle events. No foreign keys: the log
-- outlives the shops and users it names.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    actor_id    INTEGER,
    actor_email TEXT,
    actor_role  TEXT,
    client_id   INTEGER,
    action      TEXT    NOT NULL,
    target      TEXT,
    ip          TEXT,
    detail      TEXT
);
CREATE INDEX audit_log_client ON audit_log (client_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Schedules: named recurring work with a cron expression, global (client_id NULL) or a shop's
-- override of it.
CREATE TABLE schedules (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL CHECK (name IN ('backups', 'prune', 'order_auto_cancel')),
    client_id  INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    cron       TEXT    NOT NULL CHECK (length(cron) BETWEEN 9 AND 120),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- order_auto_cancel: minutes an unpaid pending order may wait
    setting    INTEGER,
    last_run_at TEXT,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE UNIQUE INDEX schedules_name ON schedules (name, ifnull(client_id, 0));
-- backups: when the scheduler looks for shops whose backup interval (VERGEFLOW_BACKUP_EVERY, or the
-- shop's backup_every) has passed; a shop's own row backs it up at its own times instead.
INSERT INTO schedules (name, cron, setting) VALUES ('backups', '*/5 * * * *', NULL);
INSERT INTO schedules (name, cron, setting) VALUES ('prune', '17 * * * *', NULL);
INSERT INTO schedules (name, cron, setting) VALUES ('order_auto_cancel', '*/5 * * * *', 1440);
