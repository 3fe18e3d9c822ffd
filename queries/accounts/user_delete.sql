DELETE FROM users WHERE email = ?;
