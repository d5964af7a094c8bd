DROP TABLE usage_rollup;
DROP TABLE usage_daily;
DROP INDEX usage_history_first_request_ms;
ALTER TABLE usage_history DROP COLUMN license_id;
