-- Retention: delivery attempts before the cutoff, and those of resolved alerts about to go.
DELETE FROM webhook_deliveries
WHERE attempted_at < $1
   OR alert_id IN (SELECT id FROM alerts WHERE state = 'resolved' AND updated_at < $1);
