-- Erasure: another person's events that still carry the erased anonymous id (a shared
-- device) keep their user id and lose the anonymous one.
UPDATE events SET anonymous_id = NULL WHERE anonymous_id = $1 AND user_id IS NOT NULL;
