SELECT token_hash, email, created_at FROM login_sessions;
