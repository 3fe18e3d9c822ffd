SELECT id, name, role, token_hash, created_at, revoked_at FROM api_tokens ORDER BY created_at, id;
