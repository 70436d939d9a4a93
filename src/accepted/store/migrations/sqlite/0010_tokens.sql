-- API tokens. Only the SHA-256 of each secret is kept. `queues` is a JSON
-- array of names and `prefix*` patterns, or NULL for every queue.
CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('reader', 'producer', 'worker', 'admin')),
    queues     TEXT,
    created_at REAL NOT NULL,
    expires_at REAL
);

-- One row; bumped by every token change in the same transaction, so a node
-- knows whether its cached tokens are current from one cheap read.
CREATE TABLE token_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO token_version (id, version) VALUES (1, 0);
