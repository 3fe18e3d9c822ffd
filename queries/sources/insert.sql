INSERT INTO sources (id, name, key_hash, created_at) VALUES (?, ?, ?, ?);
