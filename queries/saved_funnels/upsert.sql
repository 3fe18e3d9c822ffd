-- Saves a funnel under a name, replacing one saved under the same name.
INSERT INTO saved_funnels (name, definition, updated_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at;
