-- Events received per source and hour since a time (for the data health chart).
SELECT source_id, epoch_us(time_bucket(INTERVAL 1 HOUR, received_at)) AS hour_us, count(*) AS events
FROM events
WHERE received_at >= ?
GROUP BY source_id, hour_us
ORDER BY hour_us, source_id;
