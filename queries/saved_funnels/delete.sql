-- Forgets a saved funnel; returns how many rows went (0 when no funnel had that name).
DELETE FROM saved_funnels WHERE name = ?;
