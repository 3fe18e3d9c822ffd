-- One property's value for every event that carries it, up to sequence number $2, to
-- materialise a property column of the event index. $1 is the property's JSON path.
SELECT seq, json_extract_string(properties, $1) AS value
FROM events
WHERE seq <= $2
  AND json_extract_string(properties, $1) IS NOT NULL;
