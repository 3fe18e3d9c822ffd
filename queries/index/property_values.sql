-- One property's values for the events in ($2, $3] that carry it, to materialise a property
-- column of the event index (first up to what the index holds, then what arrived meanwhile).
-- $1 is the property's JSON path.
SELECT seq, json_extract_string(properties, $1) AS value
FROM events
WHERE seq > $2
  AND seq <= $3
  AND json_extract_string(properties, $1) IS NOT NULL;
