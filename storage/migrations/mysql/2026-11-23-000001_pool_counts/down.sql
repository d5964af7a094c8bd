CREATE INDEX grants_pool ON grants (environment, product);
DROP INDEX grants_pool_deadline ON grants;
ALTER TABLE pools DROP COLUMN total_cores, DROP COLUMN servers;
