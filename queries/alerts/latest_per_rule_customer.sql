-- When each rule last alerted on each customer recently (for cooldowns after a restart).
SELECT rule_id, customer_id, epoch_us(max(created_at)) FROM alerts WHERE created_at >= ? GROUP BY ALL;
