-- The events a funnel is computed from: every named event of every customer (identities
-- stitched) from the start of the range to its end plus the conversion window, in customer
-- and time order (commit order breaks ties). With the first parameter false only events
-- named in the JSON list of the last parameter are returned; strict order needs them all.
SELECT customer_id, epoch_us(timestamp) AS ts_us, seq, event
FROM customer_events
WHERE event IS NOT NULL
  AND timestamp >= ?
  AND timestamp < ?
  AND (? OR list_contains(from_json(?::JSON, '["VARCHAR"]'), event))
ORDER BY customer_id, timestamp, seq;
