-- A new alert; nothing when the rule already alerted on this customer and anchor event.
INSERT INTO alerts (id, rule_id, rule_name, customer_id, anchor_seq, state, assignee, note, message,
                    triggering, context, occurred_at, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, 'open', NULL, NULL, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;
