UPDATE users SET password_hash = ?, updated_at = ? WHERE email = ?;
