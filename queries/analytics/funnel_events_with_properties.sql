-- As funnel_events.sql, plus two property values per event, for funnels with a breakdown or
-- a property held constant (kept apart because reading `properties` costs a scan of it).
--   $1, $2  the time span
--   $3      true for every named event (strict order and "what came next" need them all),
--           false for only the events named in the JSON list $4
--   $5      JSON path of the breakdown property (NULL for none)
--   $6      JSON path of the property held constant across steps (NULL for none)
--   $7      true to return each event's properties too (steps that filter on them)
SELECT customer_id,
       epoch_us(timestamp) AS ts_us,
       seq,
       event,
       CASE WHEN $5 IS NULL THEN NULL ELSE json_extract_string(properties, $5) END AS breakdown,
       CASE WHEN $6 IS NULL THEN NULL ELSE json_extract_string(properties, $6) END AS held,
       CASE WHEN $7 THEN CAST(properties AS VARCHAR) END AS properties
FROM customer_events
WHERE event IS NOT NULL
  AND timestamp >= $1
  AND timestamp < $2
  AND ($3 OR list_contains(from_json($4::JSON, '["VARCHAR"]'), event))
ORDER BY customer_id, timestamp, seq;
