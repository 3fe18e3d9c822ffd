-- Alerts, newest first, optionally only one state, rule or assignee (NULL: any), a page at a time;
-- holdout alerts are never listed (they are not for the inbox).
--   $1 state  $2 rule id  $3 assignee  $4 customer id  $5 limit  $6 offset
SELECT id, rule_id, rule_name, customer_id, anchor_seq, state, assignee, note, message,
       CAST(triggering AS VARCHAR), CAST(context AS VARCHAR),
       epoch_us(occurred_at), epoch_us(created_at), epoch_us(updated_at), version, holdout
FROM alerts
WHERE ($1 IS NULL OR state = $1)
  AND ($2 IS NULL OR rule_id = $2)
  AND ($3 IS NULL OR assignee = $3)
  AND ($4 IS NULL OR customer_id = $4)
  AND NOT holdout
ORDER BY id DESC
LIMIT $5 OFFSET $6;
