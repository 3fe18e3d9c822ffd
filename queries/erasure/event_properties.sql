-- Erasure: the property rows of every event erasure/events.sql deletes (run before it, while
-- the events still say whose they are).
DELETE FROM event_properties WHERE seq IN (SELECT seq FROM customer_events WHERE customer_id = $1);
