-- Revokes a source's write key (its events stay); 0 rows when there is no such source or it
-- was revoked before.
UPDATE sources SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL;
