CREATE INDEX grants_pool ON grants (environment, product);
DROP INDEX grants_deadline_pool;
ALTER TABLE pools DROP COLUMN total_cores;
ALTER TABLE pools DROP COLUMN servers;
