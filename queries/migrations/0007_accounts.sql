-- Migration 7: accounts. People who sign in, one role each, with argon2id password hashes;
-- API tokens for scripts and BI tools, kept only as SHA-256 hashes; and the sessions of
-- signed-in people, kept as SHA-256 hashes of the cookie's value, so that signing out or
-- removing a user ends their sessions, also across a restart.
CREATE TABLE users (
    email         VARCHAR   NOT NULL PRIMARY KEY,
    role          VARCHAR   NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash VARCHAR   NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE TABLE api_tokens (
    id         VARCHAR   NOT NULL PRIMARY KEY,
    name       VARCHAR   NOT NULL,
    role       VARCHAR   NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    token_hash VARCHAR   NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE TABLE login_sessions (
    token_hash VARCHAR   NOT NULL PRIMARY KEY,
    email      VARCHAR   NOT NULL,
    created_at TIMESTAMP NOT NULL
);
