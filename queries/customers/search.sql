-- Customers whose user or anonymous id, or whose identify traits (as JSON text), contain the
-- search text (case-insensitive), with the trait text that matched; the most recently seen first.
SELECT
    coalesce(user_id, anonymous_id) AS customer_id,
    max(received_at) AS last_seen,
    arg_max(CAST(traits AS VARCHAR), received_at) FILTER (WHERE traits IS NOT NULL) AS traits
FROM events
WHERE coalesce(user_id, anonymous_id) ILIKE '%' || $1 || '%'
   OR (type = 'identify' AND CAST(traits AS VARCHAR) ILIKE '%' || $1 || '%')
GROUP BY customer_id
ORDER BY last_seen DESC
LIMIT 50;
