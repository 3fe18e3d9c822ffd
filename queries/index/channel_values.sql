-- The attribution of the events in ($1, $2] that carry any, from which the
-- event index derives each event's channel: the campaign's source and medium (UTM tags), the
-- referrer (Segment puts it in context.page, page calls also in properties) and the page's own
-- URL (a referrer on the same site is navigation).
-- The substring tests come first: most events carry no attribution, and they are then never
-- parsed (a tenth of the time on 10M events). They can only miss a key written with \u
-- escapes for plain letters, which no JSON encoder produces.
SELECT seq,
       json_extract_string(context, '$.campaign.source') AS source,
       json_extract_string(context, '$.campaign.medium') AS medium,
       coalesce(json_extract_string(context, '$.page.referrer'),
                json_extract_string(properties, '$.referrer')) AS referrer,
       json_extract_string(context, '$.page.url') AS page_url
FROM events
WHERE seq > $1
  AND seq <= $2
  AND (contains(context, '"campaign"')
       OR contains(context, '"referrer"')
       OR contains(properties, '"referrer"'))
  AND (json_extract(context, '$.campaign') IS NOT NULL
       OR json_extract_string(context, '$.page.referrer') IS NOT NULL
       OR json_extract_string(properties, '$.referrer') IS NOT NULL);
