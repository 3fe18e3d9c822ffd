-- 1 while the alert exists (an erasure or retention may have removed it), else 0.
SELECT count(*) FROM alerts WHERE id = $1;
