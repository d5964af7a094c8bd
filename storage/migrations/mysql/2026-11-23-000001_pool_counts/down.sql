CREATE INDEX grants_pool ON grants (environment, product);
ALTER TABLE pools DROP COLUMN total_cores, DROP COLUMN servers;
