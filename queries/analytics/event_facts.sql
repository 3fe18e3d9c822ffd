-- What a funnel needs from events' properties, by sequence number, for the events named in
-- the JSON list $3 between $1 and $2 (unordered: the caller looks them up by seq).
--   $4  JSON path of the breakdown property (NULL for none)
--   $5  JSON path of the property held constant across steps (NULL for none)
--   $6  JSON list of the event names whose properties a step filters on
SELECT seq,
       event,
       CASE WHEN $4 IS NULL THEN NULL ELSE json_extract_string(properties, $4) END AS breakdown,
       CASE WHEN $5 IS NULL THEN NULL ELSE json_extract_string(properties, $5) END AS held,
       CASE WHEN list_contains(from_json($6::JSON, '["VARCHAR"]'), event)
            THEN CAST(properties AS VARCHAR) END AS properties
FROM events
WHERE event IS NOT NULL
  AND timestamp >= $1
  AND timestamp < $2
  AND list_contains(from_json($3::JSON, '["VARCHAR"]'), event);
