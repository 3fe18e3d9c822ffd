DELETE FROM rules WHERE id = ?;
