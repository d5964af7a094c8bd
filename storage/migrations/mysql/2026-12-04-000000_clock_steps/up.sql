-- Tenure storage, version 3 (PROTOCOL M6, M9, T3). Expand only: a manager
-- of version 2 keeps working on it during a rolling update.
-- The random nonce of the process holding each node id: a second process
-- with a live node id refuses to serve. NULL in rows older managers write.
ALTER TABLE managers ADD COLUMN instance VARCHAR(64) NULL;
-- One row: heartbeats lock it, so registering and checking max_managers
-- is serialised; and the latest storage instant a manager recorded, which a
-- clock set back is held to for the license (T3).
CREATE TABLE clock_state (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL DEFAULT 0,
    high_water_ms BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO clock_state (id, version) VALUES (1, 0);
-- Steps of the storage clock a manager found (M9): size_ms > 0 forward, < 0
-- back. A forward step holds deadlines back by its size until until_ms.
CREATE TABLE clock_steps (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    node_id VARCHAR(128) NOT NULL,
    seen_ms BIGINT NOT NULL,
    size_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX clock_steps_until ON clock_steps (until_ms);
