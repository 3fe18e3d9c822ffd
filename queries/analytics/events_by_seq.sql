-- The events whose sequence numbers are in the JSON list $3, all between $1 and $2: one
-- stretch of a customer's timeline, whose sequence numbers the event index knows. The
-- range lets DuckDB skip every row group outside it (events are stored in sequence order),
-- so a few events are read without scanning the table; list_contains then tests the few
-- rows left (a third cheaper per stretch than joining the list's rows). Same columns as
-- customer_timeline.sql.
SELECT seq, type, event, anonymous_id, user_id, epoch_us(timestamp) AS ts_us,
       CAST(properties AS VARCHAR) AS properties, CAST(traits AS VARCHAR) AS traits
FROM events
WHERE seq BETWEEN $1 AND $2
  AND list_contains(from_json($3::JSON, '["BIGINT"]'), seq);
