-- Tenure storage, version 5 (PROTOCOL M8, 6.3). Expand only: a manager of
-- version 4 keeps working on it during a rolling update (its usage rows
-- carry no license id).
-- The installed license's id when the grant ended; NULL in older rows.
ALTER TABLE usage_history ADD COLUMN license_id VARCHAR(128) NULL;
-- Roll-ups read the rows of a day by either end of their interval.
CREATE INDEX usage_history_first_request_ms ON usage_history (first_request_ms);
-- One row per closed UTC day and pool: exact figures of the grants that
-- overlapped the day, written once when the day is rolled up and kept past
-- the usage history's retention.
CREATE TABLE usage_daily (
    day_ms BIGINT NOT NULL,
    environment VARCHAR(128) NOT NULL,
    product VARCHAR(128) NOT NULL,
    peak_servers BIGINT NOT NULL,
    peak_cores BIGINT NOT NULL,
    server_ms BIGINT NOT NULL,
    core_ms BIGINT NOT NULL,
    grants_started BIGINT NOT NULL,
    ended_released BIGINT NOT NULL,
    ended_replaced BIGINT NOT NULL,
    ended_revoked BIGINT NOT NULL,
    ended_grace_exceeded BIGINT NOT NULL,
    ended_license_expired BIGINT NOT NULL,
    ended_admin_released BIGINT NOT NULL,
    license_id VARCHAR(128) NULL,
    PRIMARY KEY (day_ms, environment, product)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row: the last day rolled up (its midnight, UTC); a roll-up locks it.
CREATE TABLE usage_rollup (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL DEFAULT 0,
    last_day_ms BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO usage_rollup (id, version) VALUES (1, 0);
