-- Anchors already alerted on, with when their condition was met, for alerts met since a
-- time: timers rebuilt after a restart skip them and the alert store refuses them again.
SELECT rule_id, customer_id, anchor_seq, epoch_us(occurred_at) AS occurred_us FROM alerts WHERE occurred_at >= ?;
