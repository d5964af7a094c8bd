//! The pools table: the row each grant decision locks (M1, M5), the counts
//! it keeps of its grants rows, and a pool's view for a decision.

use super::{Conn, DieselTx, limit_i64};
use crate::port::StorageError;
use crate::sql::rows::GrantRow;
use crate::sql::schema::{grants, pools};
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, SqliteConnection, sql_query};
use tenure_core::UnixMillis;
use tenure_core::manager::{HeldGrant, PoolTotals, PoolView};
use tenure_core::wire::{Instance, PoolKey};

#[derive(QueryableByName)]
struct TotalsRow {
    #[diesel(sql_type = BigInt)]
    servers: i64,
    #[diesel(sql_type = BigInt)]
    total_cores: i64,
}

pub(super) fn totals(servers: i64, total_cores: i64) -> Result<PoolTotals, StorageError> {
    let bad = || StorageError::corrupt(format!("negative totals {servers}/{total_cores}"));
    Ok(PoolTotals {
        servers: u64::try_from(servers).map_err(|_| bad())?,
        total_cores: u64::try_from(total_cores).map_err(|_| bad())?,
    })
}

impl DieselTx<'_> {
    pub(super) fn lock_pool_row(&mut self, pool: &PoolKey) -> Result<(), StorageError> {
        let (env, product) = (pool.environment.as_str(), pool.product.as_str());
        // The row lock this UPDATE takes (PostgreSQL, InnoDB) is held until
        // commit; SQLite took its write lock at BEGIN IMMEDIATE.
        let bump = |tx: &mut Self| {
            on_conn!(tx, c => diesel::update(
                pools::table
                    .filter(pools::environment.eq(env))
                    .filter(pools::product.eq(product)),
            )
            .set(pools::version.eq(pools::version + 1))
            .execute(c))
        };
        let updated = bump(self).map_err(|e| self.fail(e))?;
        if updated == 1 {
            return Ok(());
        }
        // First grant of this pool: create its row (racing creators are fine:
        // all but one insert nothing), then lock it.
        let sql = self.insert_pool_sql();
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<Text, _>(env)
            .bind::<Text, _>(product)
            .execute(c));
        r.map_err(|e| self.fail(e))?;
        let r = bump(self);
        self.expected_one("lock pool", r)
    }

    pub(super) fn read_pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError> {
        let row = self.read_grant_by_instance(instance)?;
        self.read_pool_view_with_row(instance, now, expired_limit, row)
    }

    pub(super) fn read_pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError> {
        let pool = instance.pool();
        let expired = self.pool_expired(&pool, now, expired_limit)?;
        // A read that did not fill its limit holds every grant of the pool
        // past its deadline: no need to count them again.
        let past = (expired.len() < expired_limit).then_some(expired.as_slice());
        let held = self.held_totals(&pool, now, past)?;
        Ok(Self::view_of(now, held, expired, row))
    }

    pub(super) fn read_pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        let expired = self.pool_expired(&instance.pool(), now, expired_limit)?;
        let row = self.read_grant_by_instance(instance)?;
        Ok(Self::view_of(now, held, expired, row))
    }

    /// Held totals of `pool` at `now`: the pool row's counts of all its
    /// grants rows, less those past their deadline (few: they are reclaimed
    /// in passing and by the sweep), so a large pool is never counted whole.
    /// `past` is every grant of the pool past its deadline when the caller
    /// has read them all; else they are counted here.
    fn held_totals(
        &mut self,
        pool: &PoolKey,
        now: UnixMillis,
        past: Option<&[HeldGrant]>,
    ) -> Result<PoolTotals, StorageError> {
        let (env, product) = (pool.environment.as_str(), pool.product.as_str());
        let r = on_conn!(self, c => pools::table
            .filter(pools::environment.eq(env))
            .filter(pools::product.eq(product))
            .select((pools::servers, pools::total_cores))
            .first::<(i64, i64)>(c)
            .optional());
        let Some((servers, cores)) = r.map_err(|e| self.fail(e))? else {
            return Ok(PoolTotals::default());
        };
        let past = match past {
            Some(rows) => TotalsRow {
                servers: i64::try_from(rows.len()).unwrap_or(i64::MAX),
                total_cores: rows.iter().map(|g| i64::from(g.facts.cores)).sum(),
            },
            None => {
                let sql = self.sql(&format!(
                    "SELECT COUNT(*) AS servers, CAST(COALESCE(SUM(cores), 0) AS {}) AS total_cores \
                     FROM grants WHERE environment = ? AND product = ? AND held_until <= ?",
                    self.bigint_cast()
                ));
                let r = on_conn!(self, c => sql_query(sql.as_str())
                    .bind::<Text, _>(env)
                    .bind::<Text, _>(product)
                    .bind::<BigInt, _>(now.0)
                    .get_result::<TotalsRow>(c));
                r.map_err(|e| self.fail(e))?
            }
        };
        let (servers, cores) = (servers - past.servers, cores - past.total_cores);
        if servers < 0 || cores < 0 {
            return Err(StorageError::corrupt(format!(
                "pools: {env}/{product} counts fewer grants than the grants table holds"
            )));
        }
        totals(servers, cores)
    }

    /// Keeps the pool row's counts equal to its grants rows.
    pub(super) fn count_in_pool(
        &mut self,
        instance: &Instance,
        servers: i64,
        cores: i64,
    ) -> Result<(), StorageError> {
        let (env, product) = (instance.environment.as_str(), instance.product.as_str());
        let count = |tx: &mut Self| {
            on_conn!(tx, c => diesel::update(
                pools::table
                    .filter(pools::environment.eq(env))
                    .filter(pools::product.eq(product)),
            )
            .set((
                pools::servers.eq(pools::servers + servers),
                pools::total_cores.eq(pools::total_cores + cores),
            ))
            .execute(c))
        };
        if count(self).map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        // A caller that wrote without locking the pool first: create its row.
        self.lock_pool_row(&instance.pool())?;
        let r = count(self);
        self.expected_one("count grants in pool", r)
    }

    /// A pool's view from its totals, its grants past their deadline and
    /// the instance's own grants row.
    fn view_of(
        now: UnixMillis,
        held: PoolTotals,
        mut expired: Vec<HeldGrant>,
        row: Option<HeldGrant>,
    ) -> PoolView {
        let mut same_instance = None;
        if let Some(g) = row {
            if g.is_held_at(now) {
                same_instance = Some(g);
            } else if !expired.iter().any(|e| e.grant_id == g.grant_id) {
                // The instance's own stale grant must go before its new one
                // can take the instance's row, even past `expired_limit`.
                expired.push(g);
            }
        }
        PoolView {
            held,
            same_instance,
            expired,
        }
    }

    fn pool_expired(
        &mut self,
        pool: &PoolKey,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let (env, product) = (pool.environment.as_str(), pool.product.as_str());
        let rows = on_conn!(self, c => grants::table
            .filter(grants::environment.eq(env))
            .filter(grants::product.eq(product))
            .filter(grants::held_until.le(now.0))
            .order((grants::held_until.asc(), grants::grant_id.asc()))
            .limit(limit_i64(limit))
            .select(GrantRow::as_select())
            .load(c));
        self.load_grants(rows)
    }
}
