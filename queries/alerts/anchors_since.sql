-- Anchors already alerted on, with when their condition was met, for alerts met since a
-- time: timers rebuilt after a restart skip them and the alert store refuses them again.
-- At most the newest `limit` (the memories that hold them are bounded; the table's unique
-- key still refuses an older one).
SELECT rule_id, customer_id, anchor_seq, epoch_us(occurred_at) AS occurred_us
FROM alerts
WHERE occurred_at >= ?
ORDER BY occurred_at DESC, id DESC
LIMIT ?;
