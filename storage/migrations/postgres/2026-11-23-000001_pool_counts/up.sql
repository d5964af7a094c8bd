-- Tenure storage, version 2. Each pool row counts the grants rows of its
-- pool (held or past their deadline and not yet reclaimed), so a grant
-- decision reads held totals without counting a large pool: held = these
-- counts minus the pool's rows past their deadline (few: reclaimed in passing
-- and by the sweep), found by grants_held_until. The pool index goes: with
-- young statistics PostgreSQL took it over the instance's unique index,
-- scanning a whole pool per lookup, and no query needs it.
ALTER TABLE pools ADD COLUMN servers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pools ADD COLUMN total_cores BIGINT NOT NULL DEFAULT 0;
UPDATE pools SET
    servers = (SELECT COUNT(*) FROM grants g
               WHERE g.environment = pools.environment AND g.product = pools.product),
    total_cores = (SELECT COALESCE(SUM(g.cores), 0) FROM grants g
                   WHERE g.environment = pools.environment AND g.product = pools.product);
DROP INDEX grants_pool;
-- Grant ids as VARCHAR: the ids bound by the manager are text, and text
-- compared with a CHAR(32) column casts the column, so PostgreSQL could not
-- use the primary key and scanned every grant per renewal.
ALTER TABLE grants ALTER COLUMN grant_id TYPE VARCHAR(32);
ALTER TABLE usage_history ALTER COLUMN grant_id TYPE VARCHAR(32);
