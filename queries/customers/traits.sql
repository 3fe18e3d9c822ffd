-- The latest `name` and `email` traits that identify calls gave for each listed customer
-- (their user id, or an anonymous id never linked to one).
--   $1 JSON list of customer ids
SELECT coalesce(user_id, anonymous_id) AS customer_id,
       arg_max(json_extract_string(traits, '$.name'), seq)
           FILTER (WHERE json_extract_string(traits, '$.name') IS NOT NULL) AS name,
       arg_max(json_extract_string(traits, '$.email'), seq)
           FILTER (WHERE json_extract_string(traits, '$.email') IS NOT NULL) AS email
FROM events
WHERE type = 'identify'
  AND list_contains(from_json($1::JSON, '["VARCHAR"]'), coalesce(user_id, anonymous_id))
GROUP BY customer_id;
