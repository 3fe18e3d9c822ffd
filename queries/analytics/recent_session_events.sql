-- Named events of the customers active since the first parameter, from the second parameter
-- (a look-back that covers their current session) on, in customer and time order.
WITH active AS (
    SELECT DISTINCT customer_id FROM customer_events WHERE timestamp >= ?
)
SELECT e.customer_id, epoch_us(e.timestamp) AS ts_us, e.event
FROM customer_events e
JOIN active USING (customer_id)
WHERE e.event IS NOT NULL AND e.timestamp >= ?
ORDER BY e.customer_id, e.timestamp, e.seq;
