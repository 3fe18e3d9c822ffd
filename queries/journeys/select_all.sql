SELECT name, CAST(definition AS VARCHAR) FROM journeys ORDER BY name;
