-- The attribution of the events in ($1, $2] that carry any, from which the
-- event index derives each event's channel: the campaign's source and medium (UTM tags), the
-- referrer (Segment puts it in context.page, page calls also in properties) and the page's own
-- URL (a referrer on the same site is navigation).
SELECT seq,
       json_extract_string(context, '$.campaign.source') AS source,
       json_extract_string(context, '$.campaign.medium') AS medium,
       coalesce(json_extract_string(context, '$.page.referrer'),
                json_extract_string(properties, '$.referrer')) AS referrer,
       json_extract_string(context, '$.page.url') AS page_url
FROM events
WHERE seq > $1
  AND seq <= $2
  AND (json_extract(context, '$.campaign') IS NOT NULL
       OR json_extract_string(context, '$.page.referrer') IS NOT NULL
       OR json_extract_string(properties, '$.referrer') IS NOT NULL);
