INSERT INTO login_sessions (token_hash, email, created_at) VALUES (?, ?, ?);
