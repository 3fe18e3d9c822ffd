-- A webhook's delivery log, newest first; $2 filters by outcome (NULL: all).
SELECT alert_id, attempt, outcome, status_code, error, epoch_us(attempted_at)
FROM webhook_deliveries
WHERE webhook_id = $1 AND ($2 IS NULL OR outcome = $2)
ORDER BY attempted_at DESC, attempt DESC
LIMIT $3;
