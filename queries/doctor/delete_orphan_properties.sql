-- Removes property rows whose event is gone (after delete_duplicate_events.sql).
DELETE FROM event_properties WHERE seq NOT IN (SELECT seq FROM events);
