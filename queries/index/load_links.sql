-- Identity links committed up to sequence number $1, in the order they were made.
SELECT anonymous_id, user_id FROM identity_links WHERE seq <= $1 ORDER BY seq;
