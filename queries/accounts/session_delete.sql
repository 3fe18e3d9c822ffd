DELETE FROM login_sessions WHERE token_hash = ?;
