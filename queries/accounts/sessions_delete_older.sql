DELETE FROM login_sessions WHERE created_at < ?;
