-- The newest dead letters, newest first.
SELECT id, source_id, received_at, reason_code, reason, payload, call_type, replayed_at
FROM dead_letters
ORDER BY id DESC
LIMIT ?;
