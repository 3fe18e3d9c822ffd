-- The newest dead letters, newest first.
SELECT id, source_id, received_at, reason_code, reason, payload
FROM dead_letters
ORDER BY id DESC
LIMIT ?;
