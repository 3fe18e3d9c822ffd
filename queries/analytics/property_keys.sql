-- The property keys of the newest events (a sample, so that asking costs the same on any
-- history), for pickers to offer; most used first.
--   $1 how many of the newest events to look at
WITH newest AS (
    SELECT properties FROM events WHERE properties IS NOT NULL ORDER BY seq DESC LIMIT $1
)
SELECT key
FROM (SELECT unnest(json_keys(properties)) AS key FROM newest WHERE json_type(properties) = 'OBJECT')
GROUP BY key
ORDER BY count(*) DESC, key
LIMIT 200;
