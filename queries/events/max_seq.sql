-- The highest sequence number committed so far (0 for an empty store).
SELECT coalesce(max(seq), 0) FROM events;
