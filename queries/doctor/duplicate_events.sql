-- Events that repeat an earlier event's (source, messageId) received less than the dedup
-- window before (?: the window in microseconds). The writer never stores such a repeat, so any
-- found here came from a fault or from writes outside Wayline.
SELECT count(*)
FROM (
    SELECT epoch_us(received_at)
           - lag(epoch_us(received_at)) OVER (PARTITION BY source_id, message_id ORDER BY seq) AS since_earlier_us
    FROM events
)
WHERE since_earlier_us < ?;
