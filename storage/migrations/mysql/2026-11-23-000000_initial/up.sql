-- Tenure storage, version 1. Times are milliseconds since the Unix epoch
-- (storage clock, PROTOCOL T3). Names compare byte for byte (utf8mb4_bin).
CREATE TABLE pools (
    environment VARCHAR(128) NOT NULL,
    product VARCHAR(128) NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (environment, product)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE grants (
    grant_id CHAR(32) NOT NULL PRIMARY KEY,
    environment VARCHAR(128) NOT NULL,
    product VARCHAR(128) NOT NULL,
    hostname VARCHAR(128) NOT NULL,
    port INTEGER NOT NULL,
    cores INTEGER NOT NULL,
    ip VARCHAR(45) NULL,
    version VARCHAR(64) NULL,
    granted_at BIGINT NOT NULL,
    last_renewed BIGINT NOT NULL,
    held_until BIGINT NOT NULL,
    client_skew_ms BIGINT NULL,
    CONSTRAINT grants_instance UNIQUE (environment, product, hostname, port)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX grants_held_until ON grants (held_until);
CREATE INDEX grants_pool ON grants (environment, product);

CREATE TABLE usage_history (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    grant_id CHAR(32) NOT NULL,
    environment VARCHAR(128) NOT NULL,
    product VARCHAR(128) NOT NULL,
    hostname VARCHAR(128) NOT NULL,
    port INTEGER NOT NULL,
    cores INTEGER NOT NULL,
    ip VARCHAR(45) NULL,
    version VARCHAR(64) NULL,
    first_request_ms BIGINT NOT NULL,
    last_request_ms BIGINT NOT NULL,
    ended_ms BIGINT NOT NULL,
    end_reason VARCHAR(32) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX usage_history_grant_id ON usage_history (grant_id);
CREATE INDEX usage_history_ended_ms ON usage_history (ended_ms);

CREATE TABLE managers (
    node_id VARCHAR(128) NOT NULL PRIMARY KEY,
    live_since BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    clock_offset_ms BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE license (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    license_id VARCHAR(128) NOT NULL,
    issued_at BIGINT NOT NULL,
    armoured TEXT NOT NULL,
    installed_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
