-- The alerts of a filter by rule (the inbox's groups): the rule's latest name, how many, and
-- when the newest occurred; most alerts first.
--   $1 state  $2 rule id  $3 assignee  $4 customer id  (NULL: any)  $5 most groups
-- Holdout alerts are left out.
SELECT rule_id, arg_max(rule_name, id), count(*), epoch_us(max(occurred_at))
FROM alerts
WHERE ($1 IS NULL OR state = $1)
  AND ($2 IS NULL OR rule_id = $2)
  AND ($3 IS NULL OR assignee = $3)
  AND ($4 IS NULL OR customer_id = $4)
  AND NOT holdout
GROUP BY rule_id
ORDER BY count(*) DESC, rule_id
LIMIT $5;
