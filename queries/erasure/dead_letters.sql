-- Erasure: refused payloads that name one identity as a JSON string ("…"), wherever in the
-- payload (a dead letter is text as it came, not parsed).
DELETE FROM dead_letters WHERE contains(payload, '"' || $1 || '"');
