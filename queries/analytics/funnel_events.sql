-- The events a funnel is computed from: every named event of every customer (identities
-- stitched) from the start of the range to its end plus the conversion window, in customer
-- and time order (commit order breaks ties).
--   $1, $2  the time span
--   $3      true for every named event (strict order and "what came next" need them all),
--           false for only the events named in the JSON list $4
-- The last three columns are NULL here; funnel_events_with_properties.sql fills them.
SELECT customer_id,
       epoch_us(timestamp) AS ts_us,
       seq,
       event,
       NULL::VARCHAR AS breakdown,
       NULL::VARCHAR AS held,
       NULL::VARCHAR AS properties
FROM customer_events
WHERE event IS NOT NULL
  AND timestamp >= $1
  AND timestamp < $2
  AND ($3 OR list_contains(from_json($4::JSON, '["VARCHAR"]'), event))
ORDER BY customer_id, timestamp, seq;
