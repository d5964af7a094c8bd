CREATE INDEX grants_pool ON grants (environment, product);
ALTER TABLE pools DROP COLUMN total_cores;
ALTER TABLE pools DROP COLUMN servers;
