-- One new alert, unless its rule already alerted on the same customer and anchor (the
-- unique key); used when a bulk append meets such a duplicate, which the in-memory record
-- of recent anchors no longer holds.
INSERT OR IGNORE INTO alerts
    (id, rule_id, rule_name, customer_id, anchor_seq, state, assignee, note, message,
     triggering, context, occurred_at, created_at, updated_at, version, holdout)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
