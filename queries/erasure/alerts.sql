-- Erasure: the alerts about one identity.
DELETE FROM alerts WHERE customer_id = $1;
