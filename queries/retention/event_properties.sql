-- Retention: the property rows of the events retention/events.sql deletes (run before it).
DELETE FROM event_properties WHERE seq IN (SELECT seq FROM events WHERE timestamp < $1);
