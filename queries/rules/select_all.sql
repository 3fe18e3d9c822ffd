SELECT id, CAST(definition AS VARCHAR) FROM rules ORDER BY id;
