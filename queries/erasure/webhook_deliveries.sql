-- Erasure: the delivery log of the alerts about one identity (before the alerts go).
DELETE FROM webhook_deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE customer_id = $1);
