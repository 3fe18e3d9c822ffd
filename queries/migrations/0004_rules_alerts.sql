-- Migration 4: rules and the alerts they raise.

-- A rule is stored as its JSON definition (the document the API takes and gives).
CREATE TABLE rules (
    id         VARCHAR   NOT NULL PRIMARY KEY,
    definition JSON      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One alert: a rule's condition met by one customer. `anchor_seq` is the event that
-- completed the condition (or started the wait that ran out); one alert per rule, customer
-- and anchor, so replaying the history after a restart raises nothing twice.
CREATE TABLE alerts (
    id          BIGINT    NOT NULL PRIMARY KEY,
    rule_id     VARCHAR   NOT NULL,
    rule_name   VARCHAR   NOT NULL,
    customer_id VARCHAR   NOT NULL,
    anchor_seq  BIGINT    NOT NULL,
    -- open, acknowledged or resolved.
    state       VARCHAR   NOT NULL,
    assignee    VARCHAR,
    note        VARCHAR,
    -- Why it fired, in words.
    message     VARCHAR   NOT NULL,
    -- The events that met the condition, and the customer's latest events before it,
    -- as JSON lists of {seq, event, at}.
    triggering  JSON      NOT NULL,
    context     JSON      NOT NULL,
    -- When the condition was met (event time) and when the alert was raised and last changed.
    occurred_at TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    -- Increases with every change of any alert: the alert stream's event id.
    version     BIGINT    NOT NULL,
    UNIQUE (rule_id, customer_id, anchor_seq)
);
