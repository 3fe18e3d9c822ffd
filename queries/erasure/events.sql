-- Erasure: every event sent by or about one identity (user or anonymous id).
DELETE FROM events WHERE user_id = $1 OR anonymous_id = $1;
