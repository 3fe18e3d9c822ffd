-- Every saved funnel as (name, JSON definition, last saved), by name.
SELECT name, CAST(definition AS VARCHAR), updated_at FROM saved_funnels ORDER BY lower(name), name;
