-- The first link of an anonymous id wins; later ones are ignored.
INSERT INTO identity_links (anonymous_id, user_id, linked_at, seq) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING;
