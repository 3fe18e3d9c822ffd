-- Anchors already alerted on since a time, so timers rebuilt after a restart skip them.
SELECT rule_id, customer_id, anchor_seq FROM alerts WHERE occurred_at >= ?;
