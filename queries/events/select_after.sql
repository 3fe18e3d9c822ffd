-- Events committed after a given sequence number, oldest first (SSE resume).
SELECT seq, message_id, source_id, type, event, anonymous_id, user_id,
       timestamp, received_at, CAST(properties AS VARCHAR), CAST(context AS VARCHAR),
       CAST(traits AS VARCHAR)
FROM events
WHERE seq > ?
ORDER BY seq
LIMIT ?;
