-- Migration 2: write keys, identity links, and what dead-letter replay needs.

-- A source is one sending app or site; its write key is stored only as a SHA-256 hash.
CREATE TABLE sources (
    id         VARCHAR   NOT NULL PRIMARY KEY,
    name       VARCHAR   NOT NULL,
    key_hash   VARCHAR   NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

-- identify/alias (or any message carrying both ids) links an anonymous id to a user id.
-- The first link of an anonymous id wins, as in most analytics tools' ID merge.
CREATE TABLE identity_links (
    anonymous_id VARCHAR   NOT NULL PRIMARY KEY,
    user_id      VARCHAR   NOT NULL,
    linked_at    TIMESTAMP NOT NULL,
    seq          BIGINT    NOT NULL
);

-- The endpoint's call type for single-message refusals (NULL for batch items, which carry
-- their own type), and when a dead letter was replayed successfully.
ALTER TABLE dead_letters ADD COLUMN call_type VARCHAR;
ALTER TABLE dead_letters ADD COLUMN replayed_at TIMESTAMP;

-- Every event with the customer it belongs to: the user id if the event has one, else the
-- user its anonymous id was linked to, else the anonymous id.
CREATE VIEW customer_events AS
SELECT coalesce(e.user_id, l.user_id, e.anonymous_id) AS customer_id, e.*
FROM events e
LEFT JOIN identity_links l ON l.anonymous_id = e.anonymous_id;
