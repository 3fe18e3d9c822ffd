-- Retention: dead letters received before the cutoff.
DELETE FROM dead_letters WHERE received_at < $1;
