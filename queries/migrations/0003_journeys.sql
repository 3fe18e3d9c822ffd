-- Migration 3: journeys. A journey is stored as its JSON definition (stages with their
-- event names, and the expected path), the same document the API imports and exports.
CREATE TABLE journeys (
    name       VARCHAR   NOT NULL PRIMARY KEY,
    definition JSON      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
