-- Since a time: how late events arrive (received_at − timestamp, the event's own time) and
-- how far senders' clocks are off (received_at − sent_at), as medians and 95th percentiles
-- in milliseconds; and how many events there were.
SELECT
    count(*) AS events,
    quantile_cont(epoch_ms(received_at) - epoch_ms(timestamp), 0.5) AS lag_p50_ms,
    quantile_cont(epoch_ms(received_at) - epoch_ms(timestamp), 0.95) AS lag_p95_ms,
    quantile_cont(epoch_ms(received_at) - epoch_ms(sent_at), 0.5) AS skew_p50_ms,
    quantile_cont(abs(epoch_ms(received_at) - epoch_ms(sent_at)), 0.95) AS skew_p95_abs_ms
FROM events
WHERE received_at >= ?;
