-- Erasure: refused payloads that name one identity. A payload that is JSON is matched by its
-- identity fields (a message's or each batch item's userId, anonymousId, previousId, numbers
-- included); one that is not JSON by the id as text anywhere in it.
DELETE FROM dead_letters
WHERE CASE
    WHEN try_cast(payload AS JSON) IS NULL THEN contains(payload, $1)
    ELSE list_contains(
        [json_extract_string(payload, '$.userId'), json_extract_string(payload, '$.anonymousId'),
         json_extract_string(payload, '$.previousId')]
        || coalesce(json_extract_string(payload, '$.batch[*].userId'), [])
        || coalesce(json_extract_string(payload, '$.batch[*].anonymousId'), [])
        || coalesce(json_extract_string(payload, '$.batch[*].previousId'), []),
        $1)
END;
