-- Records which numbered migrations have run; created before any of them.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER   NOT NULL PRIMARY KEY,
    name       VARCHAR   NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
