-- Migration 8: the audit log, and write keys that can be revoked.

-- Every change made by a signed-in person or an API token: who, with which role, what
-- (method and route), and how it ended (the HTTP status). Erasures name no customer.
CREATE TABLE audit_log (
    id      BIGINT    NOT NULL PRIMARY KEY,
    happened_at TIMESTAMP NOT NULL,
    actor   VARCHAR   NOT NULL,
    -- session or token.
    via     VARCHAR   NOT NULL,
    role    VARCHAR   NOT NULL,
    action  VARCHAR   NOT NULL,
    status  INTEGER   NOT NULL
);

-- A revoked source's write key is refused from then on; its events stay.
ALTER TABLE sources ADD COLUMN revoked_at TIMESTAMP;
