-- Main registry: who may administer, which shops exist, and global content.
-- Timestamps are RFC 3339 UTC text; money never appears here.

CREATE TABLE clients (
    id             INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused, so a stray file can never match a new shop
    name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    subdomain      TEXT    NOT NULL UNIQUE CHECK (length(subdomain) BETWEEN 1 AND 63),
    domain         TEXT    UNIQUE COLLATE NOCASE CHECK (domain IS NULL OR length(domain) BETWEEN 3 AND 253),
    database       TEXT    GENERATED ALWAYS AS ('client_' || id || '.db') VIRTUAL,
    status         TEXT    NOT NULL DEFAULT 'provisioning'
                           CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting')),
    schema_version INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX clients_status ON clients (status);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('super_admin', 'admin')),
    client_id     INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((role = 'super_admin' AND client_id IS NULL) OR (role = 'admin' AND client_id IS NOT NULL))
);
CREATE INDEX users_client ON users (client_id);

-- Bearer tokens for main users (user_id) and for shop customers (customer_id, a row in the shop
-- file). Only the SHA-256 of a token is stored.
CREATE TABLE personal_access_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    client_id    INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    customer_id  INTEGER,
    name         TEXT    NOT NULL DEFAULT 'api',
    token_hash   TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    abilities    TEXT    NOT NULL DEFAULT '["*"]',
    last_used_at TEXT,
    expires_at   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((user_id IS NULL) <> (customer_id IS NULL)),
    CHECK (customer_id IS NULL OR client_id IS NOT NULL)
);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);
CREATE INDEX personal_access_tokens_client ON personal_access_tokens (client_id);

CREATE TABLE password_reset_tokens (
    email      TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE settings (
    key        TEXT NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 100),
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

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

-- The job queue: the CLI hands work that touches live shop files to the running server here.
CREATE TABLE job_batches (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    total_jobs    INTEGER NOT NULL DEFAULT 0,
    pending_jobs  INTEGER NOT NULL DEFAULT 0,
    failed_jobs   INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    finished_at   TEXT
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    batch_id    INTEGER REFERENCES job_batches (id) ON DELETE SET NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL DEFAULT '{}',
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    reserved_at TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_pending ON jobs (status, id);

CREATE TABLE failed_jobs (
    id        INTEGER PRIMARY KEY,
    job_id    INTEGER,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    exception TEXT NOT NULL,
    failed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
