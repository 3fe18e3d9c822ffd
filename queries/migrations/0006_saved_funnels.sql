-- Migration 6: saved funnels. A funnel is saved under a name as the builder's JSON
-- definition (steps, window, order mode, range in days, exclusions, breakdown, the property
-- held constant, trend period), so it opens again with the range moved on to today.
CREATE TABLE saved_funnels (
    name       VARCHAR   NOT NULL PRIMARY KEY,
    definition JSON      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
