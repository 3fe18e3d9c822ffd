-- Each distinct value of one property among the events in ($2, $3], with DuckDB's hash of
-- it: the dictionary property_value_hashes.sql's hashes are resolved against. $1: the name.
SELECT hash(value) AS value_hash, value
FROM event_properties
WHERE key = $1
  AND seq > $2
  AND seq <= $3
GROUP BY value;
