-- Removes the repeats duplicate_events.sql counts, keeping each message's first copy (the one
-- its sender was acknowledged for); ?: the dedup window in microseconds.
DELETE FROM events
WHERE seq IN (
    SELECT seq
    FROM (
        SELECT seq,
               epoch_us(received_at)
               - lag(epoch_us(received_at)) OVER (PARTITION BY source_id, message_id ORDER BY seq) AS since_earlier_us
        FROM events
    )
    WHERE since_earlier_us < ?
);
