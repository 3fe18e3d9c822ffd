-- A lifecycle change: state, assignee and note as they are now.
UPDATE alerts SET state = ?, assignee = ?, note = ?, updated_at = ?, version = ? WHERE id = ?;
