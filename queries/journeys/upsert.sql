INSERT INTO journeys (name, definition, updated_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at;
