-- One customer's whole timeline across every stitched identity, oldest first, with a
-- session number that starts a new session after a gap longer than the second parameter
-- (in seconds).
WITH mine AS (
    SELECT seq, type, event, anonymous_id, user_id, timestamp,
           CAST(properties AS VARCHAR) AS properties, CAST(traits AS VARCHAR) AS traits,
           CAST(context AS VARCHAR) AS context
    FROM customer_events
    WHERE customer_id = ?
),
gaps AS (
    SELECT *,
           CASE WHEN lag(timestamp) OVER (ORDER BY timestamp, seq) IS NULL
                  OR epoch(timestamp) - epoch(lag(timestamp) OVER (ORDER BY timestamp, seq)) > ?
                THEN 1 ELSE 0 END AS starts_session
    FROM mine
)
SELECT seq, type, event, anonymous_id, user_id, epoch_us(timestamp) AS ts_us, properties, traits, context,
       sum(starts_session) OVER (ORDER BY timestamp, seq ROWS UNBOUNDED PRECEDING) AS session
FROM gaps
ORDER BY timestamp, seq;
