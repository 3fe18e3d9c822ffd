-- Where alert ids and versions continue from.
SELECT coalesce(max(id), 0), coalesce(max(version), 0) FROM alerts;
