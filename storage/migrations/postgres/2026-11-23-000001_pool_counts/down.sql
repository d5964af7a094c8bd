ALTER TABLE usage_history ALTER COLUMN grant_id TYPE CHAR(32);
ALTER TABLE grants ALTER COLUMN grant_id TYPE CHAR(32);
CREATE INDEX grants_pool ON grants (environment, product);
ALTER TABLE pools DROP COLUMN total_cores;
ALTER TABLE pools DROP COLUMN servers;
