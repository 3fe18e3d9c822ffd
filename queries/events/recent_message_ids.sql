-- Message ids received since a time, per source: what deduplication must remember.
SELECT source_id, message_id FROM events WHERE received_at >= ?;
