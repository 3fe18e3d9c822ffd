SELECT id, name, key_hash, created_at, revoked_at FROM sources ORDER BY created_at, id;
