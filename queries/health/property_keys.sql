-- Property drift: for each event name, each property key seen since the first time (?1),
-- whether it was seen since the second time (?2, "recently") and before it.
WITH keyed AS (
    SELECT event, received_at, unnest(json_keys(properties)) AS key
    FROM events
    WHERE received_at >= ? AND event IS NOT NULL AND json_type(properties) = 'OBJECT'
)
SELECT event, key, bool_or(received_at >= ?) AS recently, bool_or(received_at < ?) AS before
FROM keyed
GROUP BY event, key
ORDER BY event, key;
