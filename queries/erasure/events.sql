-- Erasure: every event of the customer behind one identity (by the customer each event
-- belongs to, so another person's events on a shared device stay).
DELETE FROM events WHERE seq IN (SELECT seq FROM customer_events WHERE customer_id = $1);
