-- Which of the given (source, message id) pairs the store already holds since a time. Asked
-- per commit only while the writer is still reading its memory of message ids back at start.
-- The pairs come as one JSON array of {"source_id", "message_id"} objects (DuckDB cannot
-- bind a list parameter).
WITH asked AS (
    SELECT unnest(from_json(?::JSON, '[{"source_id":"VARCHAR","message_id":"VARCHAR"}]'), recursive := true)
)
SELECT DISTINCT e.source_id, e.message_id
FROM events e SEMI JOIN asked a ON e.source_id = a.source_id AND e.message_id = a.message_id
WHERE e.received_at >= ?;
