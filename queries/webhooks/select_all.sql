SELECT id, url, format, enabled FROM webhooks ORDER BY id;
