-- API tokens, shared by every node. Only the SHA-256 of each secret is kept.
-- `queues`: names and `prefix*` patterns, or NULL for every queue.
CREATE TABLE accepted_tokens (
    name       text             PRIMARY KEY,
    hash       text             NOT NULL UNIQUE,
    role       text             NOT NULL CHECK (role IN ('reader', 'producer', 'worker', 'admin')),
    queues     text[],
    created_at double precision NOT NULL,
    expires_at double precision
);

-- One row; bumped by every token change in the same transaction, so a node
-- knows whether its cached tokens are current from one cheap read.
CREATE TABLE accepted_token_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint  NOT NULL
);
INSERT INTO accepted_token_version (id, version) VALUES (1, 0);
