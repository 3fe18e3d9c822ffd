-- One audit entry; ids count up from the largest so far.
INSERT INTO audit_log (id, happened_at, actor, via, role, action, status)
SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6 FROM audit_log;
