-- One property's value for each event in ($2, $3] that carries it, as DuckDB's hash of the
-- value (resolved against property_distinct_values.sql, read in the same snapshot): two
-- integer columns cost a fraction of 10M strings to hand over. $1: the property's name.
SELECT seq, hash(value) AS value_hash
FROM event_properties
WHERE key = $1
  AND seq > $2
  AND seq <= $3;
