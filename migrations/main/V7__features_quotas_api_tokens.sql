-- A shop's feature overrides, {"name": bool}; the global defaults are settings['features'] (absent: on).
ALTER TABLE clients ADD COLUMN features TEXT NOT NULL DEFAULT '{}';

-- A shop's quotas; null follows the server's default (VERGEFLOW_MAX_SHOP_MB, VERGEFLOW_SHOP_RPS;
-- products: none).
ALTER TABLE clients ADD COLUMN max_storage_mb INTEGER CHECK (max_storage_mb BETWEEN 1 AND 1048576);
ALTER TABLE clients ADD COLUMN max_products INTEGER CHECK (max_products BETWEEN 0 AND 10000000);
ALTER TABLE clients ADD COLUMN requests_per_second INTEGER CHECK (requests_per_second BETWEEN 1 AND 1000000);

-- Tokens a main user creates for integrations (`api`, named, with abilities) beside the ones
-- signing in gives (`session`, every ability of the user).
ALTER TABLE personal_access_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'session' CHECK (purpose IN ('session', 'api'));
