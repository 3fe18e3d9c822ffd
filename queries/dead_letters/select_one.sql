SELECT id, source_id, received_at, reason_code, reason, payload, call_type, replayed_at
FROM dead_letters WHERE id = ?;
