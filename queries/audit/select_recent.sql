-- The newest audit entries first.
SELECT id, happened_at, actor, via, role, action, status FROM audit_log ORDER BY id DESC LIMIT $1;
