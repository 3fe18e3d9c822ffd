INSERT OR REPLACE INTO webhooks (id, url, format, enabled, updated_at) VALUES (?, ?, ?, ?, ?);
