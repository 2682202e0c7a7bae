-- Each API key's own request rate (requests a minute; 0: the server's default).
ALTER TABLE api_keys ADD COLUMN rate_limit INTEGER NOT NULL DEFAULT 0;
