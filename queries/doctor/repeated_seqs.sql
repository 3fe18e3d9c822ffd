-- Sequence numbers held by more than one event: the SSE ids and the event index rely on each
-- being unique, so any found here is a fault to report (it cannot be repaired by guessing).
SELECT count(*)
FROM (SELECT seq FROM events GROUP BY seq HAVING count(*) > 1);
