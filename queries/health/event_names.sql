-- Event names (track events and page/screen names) received since a time, most frequent first.
SELECT event, count(*) AS events
FROM events
WHERE received_at >= ? AND event IS NOT NULL
GROUP BY event
ORDER BY events DESC, event
LIMIT 500;
