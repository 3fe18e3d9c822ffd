-- One property's values for the events in ($2, $3] that carry it, to materialise a property
-- column of the event index (first up to what the index holds, then what arrived meanwhile).
-- $1 is the property's JSON path, $4 its name in quotes as it appears in the JSON text.
-- The substring test comes first: it costs a fraction of parsing the JSON, and events
-- without the key (most, for a rare property) are never parsed. It can only miss a key
-- written with \u escapes for plain letters, which no JSON encoder produces. Each value is
-- extracted once, in the inner query, and tested for null outside it.
SELECT seq, value
FROM (
    SELECT seq, json_extract_string(properties, $1) AS value
    FROM events
    WHERE seq > $2
      AND seq <= $3
      AND contains(properties, $4)
)
WHERE value IS NOT NULL;
