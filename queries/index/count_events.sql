-- How many events the index's start-up load reads (those up to sequence number $1), so that
-- the warm-up can say how far it has got.
SELECT count(*) FROM events WHERE seq <= $1;
