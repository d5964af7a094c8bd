-- Tenure storage: the audit trail (PROTOCOL 6.3). Expand only: an older manager
-- keeps working on it during a rolling update, and writes no audit rows.
-- The audit trail: each admin action and each call refused on an admin
-- route, written by the action's own transaction. at_ms is storage time.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    token_name VARCHAR(64) NOT NULL,
    action VARCHAR(32) NOT NULL,
    target VARCHAR(255) NOT NULL,
    result VARCHAR(32) NOT NULL,
    detail TEXT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms, id);
