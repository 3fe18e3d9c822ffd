DELETE FROM login_sessions WHERE email = ?;
