-- Migration 5: outgoing webhooks and their delivery log.

-- Where alerts are sent: `format` is json (the alert as JSON) or slack (an incoming-webhook
-- message).
CREATE TABLE webhooks (
    id         VARCHAR   NOT NULL PRIMARY KEY,
    url        VARCHAR   NOT NULL,
    format     VARCHAR   NOT NULL,
    enabled    BOOLEAN   NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One attempt to deliver one alert to one webhook. `outcome`: delivered, retrying (another
-- attempt follows) or dead (the last attempt failed: a dead letter, kept with its error).
CREATE TABLE webhook_deliveries (
    webhook_id   VARCHAR   NOT NULL,
    alert_id     BIGINT    NOT NULL,
    attempt      INTEGER   NOT NULL,
    outcome      VARCHAR   NOT NULL,
    status_code  INTEGER,
    error        VARCHAR,
    attempted_at TIMESTAMP NOT NULL
);
