-- Deliveries whose latest attempt said another would follow: retries a stop cut short,
-- resumed at start-up from the next attempt.
SELECT webhook_id, alert_id, max(attempt) AS last_attempt
FROM webhook_deliveries
GROUP BY webhook_id, alert_id
HAVING arg_max(outcome, attempt) = 'retrying'
ORDER BY alert_id;
