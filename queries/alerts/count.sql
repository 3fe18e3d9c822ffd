-- How many alerts one state, rule, assignee or customer has (NULL: any), for the inbox's pages;
-- holdout alerts are not counted.
--   $1 state  $2 rule id  $3 assignee  $4 customer id
SELECT count(*)
FROM alerts
WHERE ($1 IS NULL OR state = $1)
  AND ($2 IS NULL OR rule_id = $2)
  AND ($3 IS NULL OR assignee = $3)
  AND ($4 IS NULL OR customer_id = $4)
  AND NOT holdout;
