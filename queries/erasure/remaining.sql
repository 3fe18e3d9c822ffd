-- Erasure's own check: rows anywhere that still name one identity (0 after an erasure).
SELECT
    (SELECT count(*) FROM events WHERE user_id = $1 OR anonymous_id = $1)
  + (SELECT count(*) FROM identity_links WHERE user_id = $1 OR anonymous_id = $1)
  + (SELECT count(*) FROM dead_letters WHERE contains(payload, $1))
  + (SELECT count(*) FROM alerts WHERE customer_id = $1);
