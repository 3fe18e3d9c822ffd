-- A rule's alerts about customers raised since $2, for its outcomes: who, when it was raised,
-- whether the customer was held out, and whether a person acknowledged or resolved it.
--   $1 rule id  $2 since
SELECT customer_id, epoch_us(created_at), coalesce(holdout, false), state IN ('acknowledged', 'resolved')
FROM alerts
WHERE rule_id = $1
  AND customer_id <> ''
  AND created_at >= $2;
