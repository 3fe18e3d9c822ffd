INSERT OR REPLACE INTO rules (id, definition, updated_at) VALUES (?, ?, ?);
