SELECT email, role, password_hash, created_at FROM users ORDER BY email;
