-- One property's values for the events in ($2, $3] that carry it, to materialise a property
-- column of the event index (first up to what the index holds, then what arrived meanwhile).
-- $1 is the property's name. Read from the rows the writer keeps per top-level property
-- (migration 10): a scan of two narrow columns, not a parse of every event's JSON.
SELECT seq, value
FROM event_properties
WHERE key = $1
  AND seq > $2
  AND seq <= $3;
