-- One customer's whole timeline across every stitched identity, oldest first, with a
-- session number that starts a new session after a gap longer than $3 seconds.
--   $1  the customer id (a user id, or an anonymous id never linked to one)
--   $2  JSON list of every identity of the customer (queries/identity/customer_ids.sql)
-- Reads the events table directly rather than the customer_events view: an event is the
-- customer's when it carries their user id, or no user id and one of their anonymous ids.
WITH mine AS (
    SELECT seq, type, event, anonymous_id, user_id, timestamp,
           CAST(properties AS VARCHAR) AS properties, CAST(traits AS VARCHAR) AS traits,
           CAST(context AS VARCHAR) AS context
    FROM events
    WHERE user_id = $1
       OR (user_id IS NULL AND list_contains(from_json($2::JSON, '["VARCHAR"]'), anonymous_id))
),
gaps AS (
    SELECT *,
           CASE WHEN lag(timestamp) OVER (ORDER BY timestamp, seq) IS NULL
                  OR epoch(timestamp) - epoch(lag(timestamp) OVER (ORDER BY timestamp, seq)) > $3
                THEN 1 ELSE 0 END AS starts_session
    FROM mine
)
SELECT seq, type, event, anonymous_id, user_id, epoch_us(timestamp) AS ts_us, properties, traits, context,
       sum(starts_session) OVER (ORDER BY timestamp, seq ROWS UNBOUNDED PRECEDING) AS session
FROM gaps
ORDER BY timestamp, seq;
