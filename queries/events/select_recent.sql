-- The newest events in commit order, newest first.
SELECT seq, message_id, source_id, type, event, anonymous_id, user_id,
       timestamp, received_at, CAST(properties AS VARCHAR), CAST(context AS VARCHAR),
       CAST(traits AS VARCHAR)
FROM events
ORDER BY seq DESC
LIMIT ?;
