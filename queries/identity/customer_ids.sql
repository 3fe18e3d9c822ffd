-- Every identity (anonymous or user id) that belongs to the customer of the given id.
WITH customer AS (
    SELECT coalesce((SELECT user_id FROM identity_links WHERE anonymous_id = $1), $1) AS id
)
SELECT id FROM customer
UNION
SELECT anonymous_id FROM identity_links WHERE user_id = (SELECT id FROM customer)
ORDER BY 1;
