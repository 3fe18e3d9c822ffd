INSERT INTO webhook_deliveries (webhook_id, alert_id, attempt, outcome, status_code, error, attempted_at)
VALUES (?, ?, ?, ?, ?, ?, ?);
