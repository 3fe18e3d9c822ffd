-- Retention: alerts resolved before the cutoff (open and acknowledged ones stay: someone
-- still has to act on them).
DELETE FROM alerts WHERE state = 'resolved' AND updated_at < $1;
