UPDATE dead_letters SET replayed_at = ? WHERE id = ?;
