-- Retention: events that happened before the cutoff.
DELETE FROM events WHERE timestamp < $1;
