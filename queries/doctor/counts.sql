-- What the database holds, for the doctor's summary.
SELECT (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM dead_letters) AS dead_letters,
       (SELECT count(*) FROM alerts) AS alerts;
