-- Every event up to sequence number $1 with the customer it belongs to (identities stitched
-- as in the customer_events view), for the in-memory event index built at start-up.
-- `anonymous`: the event carried no user id, so a later identity link moves it.
-- `page_view`: a page or screen call (questions may leave page views out).
-- Unordered: the index sorts each customer's events itself.
SELECT customer_id, epoch_us(timestamp) AS ts_us, seq, event, user_id IS NULL AS anonymous,
       type IN ('page', 'screen') AS page_view
FROM customer_events
WHERE seq <= $1;
