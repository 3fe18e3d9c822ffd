-- Alerts changed after version $1, in the order they changed: what a resuming alert stream missed.
SELECT id, rule_id, rule_name, customer_id, anchor_seq, state, assignee, note, message,
       CAST(triggering AS VARCHAR), CAST(context AS VARCHAR),
       epoch_us(occurred_at), epoch_us(created_at), epoch_us(updated_at), version, holdout
FROM alerts
WHERE version > ? AND NOT holdout
ORDER BY version
LIMIT 1000;
