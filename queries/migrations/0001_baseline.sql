-- Migration 1: the baseline schema. Later migrations are the other NNNN_name.sql files here,
-- and are listed in server/src/store/migrations.rs. All timestamps are UTC.

-- Every accepted event, exactly as it was normalised at ingestion.
CREATE TABLE events (
    -- Store-assigned, strictly increasing commit order; the SSE stream's event id.
    seq                BIGINT    NOT NULL,
    message_id         VARCHAR   NOT NULL,
    source_id          VARCHAR   NOT NULL,
    -- Segment call type: track, page, screen, identify, group, alias.
    type               VARCHAR   NOT NULL,
    -- Event name for track, page/screen name for page and screen, NULL otherwise.
    event              VARCHAR,
    anonymous_id       VARCHAR,
    user_id            VARCHAR,
    -- When the event happened (client clock, corrected for skew), UTC.
    timestamp          TIMESTAMP NOT NULL,
    original_timestamp TIMESTAMP,
    sent_at            TIMESTAMP,
    -- When Wayline received it, UTC.
    received_at        TIMESTAMP NOT NULL,
    properties         JSON,
    traits             JSON,
    context            JSON
);

-- Every refused payload with the reason it was refused, so nothing is silently dropped.
CREATE TABLE dead_letters (
    id          BIGINT    NOT NULL,
    source_id   VARCHAR,
    received_at TIMESTAMP NOT NULL,
    -- Machine-readable reason code, e.g. missing_identity.
    reason_code VARCHAR   NOT NULL,
    -- Human-readable reason naming the problem and the fix.
    reason      VARCHAR   NOT NULL,
    -- The refused payload, truncated to the per-event limit.
    payload     VARCHAR   NOT NULL
);
