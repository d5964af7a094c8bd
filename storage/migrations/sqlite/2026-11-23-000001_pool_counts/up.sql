-- Tenure storage, version 2. Each pool row counts the grants rows of its
-- pool (held or past their deadline and not yet reclaimed), so a grant
-- decision reads held totals without counting a large pool: held = these
-- counts minus the pool's rows past their deadline (few: reclaimed in passing
-- and by the sweep), found by grants_pool_deadline, which replaces the pool
-- index.
ALTER TABLE pools ADD COLUMN servers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pools ADD COLUMN total_cores BIGINT NOT NULL DEFAULT 0;
UPDATE pools SET
    servers = (SELECT COUNT(*) FROM grants g
               WHERE g.environment = pools.environment AND g.product = pools.product),
    total_cores = (SELECT COALESCE(SUM(g.cores), 0) FROM grants g
                   WHERE g.environment = pools.environment AND g.product = pools.product);
CREATE INDEX grants_pool_deadline ON grants (environment, product, held_until);
DROP INDEX grants_pool;
