-- One customer's whole timeline across every stitched identity (for customers whose events
-- are spread over too much of the table for events_by_seq.sql).
--   $1  the customer id (a user id, or an anonymous id never linked to one)
--   $2  JSON list of every identity of the customer (queries/identity/customer_ids.sql)
-- An event is the customer's when it carries their user id, or no user id and one of their
-- anonymous ids. The caller orders the events and splits them into sessions.
SELECT seq, type, event, anonymous_id, user_id, epoch_us(timestamp) AS ts_us,
       CAST(properties AS VARCHAR) AS properties, CAST(traits AS VARCHAR) AS traits
FROM events
WHERE user_id = $1
   OR (user_id IS NULL AND list_contains(from_json($2::JSON, '["VARCHAR"]'), anonymous_id));
