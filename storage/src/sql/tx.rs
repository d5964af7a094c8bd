//! [`Tx`] over one open diesel transaction. Queries are written once with
//! diesel's DSL and compiled for each backend (`on_conn!`); the few statements
//! whose SQL differs per database are raw SQL chosen by backend.

use super::connection::Backend;
use super::errors::{Class, classify, to_storage};
use super::rows::{GrantRow, LICENSE_ROW, LicenseRow, UsageRowDb};
use super::schema::{grants, license, pools, usage_history};
use super::store::LocalClock;
use crate::port::{
    AuditCursor, BatchTx, GrantsAndNow, LicenseStamp, NowAndStamp, StepSummary, StorageError,
    StoredLicense, Tx, UsageCursor,
};
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, SqliteConnection, sql_query};
use std::borrow::Cow;
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView, RecordedStep, StoredClock};
use tenure_core::report::DayFigures;
use tenure_core::wire::{AuditEntry, AuditRow, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

/// The inner connection of an open transaction.
pub(crate) enum Conn<'a> {
    Pg(&'a mut PgConnection),
    #[cfg(feature = "mysql")]
    My(&'a mut MysqlConnection),
    Lite(&'a mut SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection, whatever it is.
macro_rules! on_conn {
    ($self:ident, $c:ident => $body:expr) => {
        match &mut $self.conn {
            Conn::Pg(inner) => {
                let $c: &mut PgConnection = inner;
                $body
            }
            #[cfg(feature = "mysql")]
            Conn::My(inner) => {
                let $c: &mut MysqlConnection = inner;
                $body
            }
            Conn::Lite(inner) => {
                let $c: &mut SqliteConnection = inner;
                $body
            }
        }
    };
}

/// One transaction. `retry` records that a statement failed in a way that
/// running the whole transaction again can cure (deadlock, serialization).
pub(crate) struct DieselTx<'a> {
    conn: Conn<'a>,
    pub retry: bool,
    /// The clock embedded SQLite reads instead of the host's, if given.
    local_clock: Option<LocalClock>,
    /// The installed license's id as this transaction last read or wrote
    /// it (`Some(None)`: none installed), so that ending a grant does not
    /// read it again to stamp the usage row (M8).
    license_seen: Option<Option<String>>,
}

mod arrays;
mod audit;
mod bulk;
mod clock;
mod pool_gauges;
mod registry;
mod rollup;
mod usage;

use clock::{NowStampRow, now_and_stamp_sql};

#[derive(QueryableByName)]
struct NowRow {
    #[diesel(sql_type = BigInt)]
    now_ms: i64,
}

#[derive(QueryableByName)]
struct TotalsRow {
    #[diesel(sql_type = BigInt)]
    servers: i64,
    #[diesel(sql_type = BigInt)]
    total_cores: i64,
}

fn totals(servers: i64, total_cores: i64) -> Result<PoolTotals, StorageError> {
    let bad = || StorageError::corrupt(format!("negative totals {servers}/{total_cores}"));
    Ok(PoolTotals {
        servers: u64::try_from(servers).map_err(|_| bad())?,
        total_cores: u64::try_from(total_cores).map_err(|_| bad())?,
    })
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl<'a> DieselTx<'a> {
    pub fn new(conn: Conn<'a>, local_clock: Option<LocalClock>) -> Self {
        Self {
            conn,
            retry: false,
            local_clock,
            license_seen: None,
        }
    }

    fn backend(&self) -> Backend {
        match self.conn {
            Conn::Pg(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Conn::My(_) => Backend::Mysql,
            Conn::Lite(_) => Backend::Sqlite,
        }
    }

    /// Maps a database error, remembering whether a retry may cure it.
    fn fail(&mut self, e: diesel::result::Error) -> StorageError {
        if classify(&e) == Class::Retry {
            self.retry = true;
        }
        to_storage(e)
    }

    /// `sql` written with `?` placeholders, as this backend wants them.
    fn sql(&self, sql: &str) -> String {
        if self.backend() != Backend::Postgres {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// The storage clock (T3) in milliseconds, as an SQL expression.
    fn now_expr(&self) -> Cow<'static, str> {
        match self.backend() {
            Backend::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint".into(),
            Backend::Mysql => "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)".into(),
            // Embedded SQLite: the local clock, as PROTOCOL T3 says.
            Backend::Sqlite => match &self.local_clock {
                Some(clock) => format!("CAST({} AS INTEGER)", clock().0).into(),
                None => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)".into(),
            },
        }
    }

    /// On PostgreSQL (`None` elsewhere): [`BatchTx::grants_and_now`], in one
    /// statement when any of `ids` is found (no row carries the clock else).
    fn pg_grants_and_now(&mut self, ids: &[GrantId]) -> Result<Option<GrantsAndNow>, StorageError> {
        let sql = now_and_stamp_sql(&self.now_expr(), self.bigint_cast());
        let Conn::Pg(c) = &mut self.conn else {
            return Ok(None);
        };
        let keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let rows = arrays::grants_and_now(c, &keys, &sql);
        let mut rows = rows.map_err(|e| self.fail(e))?;
        let clock = rows
            .first_mut()
            .map(|r| std::mem::take(&mut r.clock).decode());
        let grants = rows
            .into_iter()
            .map(|r| r.grant.decode())
            .collect::<Result<Vec<_>, _>>()?;
        let read = match clock {
            Some(c) => {
                self.saw_license(c.stamp.as_ref().map(|s| s.license_id.as_str()));
                c
            }
            None => self.now_and_license_stamp()?,
        };
        Ok(Some(GrantsAndNow { grants, read }))
    }

    /// The SQL type name that `CAST(... AS _)` to a 64-bit integer takes.
    fn bigint_cast(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => "BIGINT",
            Backend::Mysql => "SIGNED",
            Backend::Sqlite => "INTEGER",
        }
    }

    fn load_grants(
        &mut self,
        rows: QueryResult<Vec<GrantRow>>,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        rows.map_err(|e| self.fail(e))?
            .into_iter()
            .map(GrantRow::decode)
            .collect()
    }

    fn expected_one(&mut self, what: &str, r: QueryResult<usize>) -> Result<(), StorageError> {
        self.expected_rows(what, r, 1)
    }

    /// A write that must change exactly `want` rows.
    fn expected_rows(
        &mut self,
        what: &str,
        r: QueryResult<usize>,
        want: usize,
    ) -> Result<(), StorageError> {
        match r.map_err(|e| self.fail(e))? {
            n if n == want => Ok(()),
            n => Err(StorageError::corrupt(format!(
                "{what}: {n} rows changed, {want} expected"
            ))),
        }
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
    fn count_in_pool(
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
        self.lock_pool(&instance.pool())?;
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

impl Tx for DieselTx<'_> {
    fn now(&mut self) -> Result<UnixMillis, StorageError> {
        let sql = format!("SELECT {} AS now_ms", self.now_expr());
        let r = on_conn!(self, c => sql_query(sql.as_str()).get_result::<NowRow>(c));
        Ok(UnixMillis(r.map_err(|e| self.fail(e))?.now_ms))
    }

    fn now_and_license_stamp(&mut self) -> Result<NowAndStamp, StorageError> {
        // One round trip for what every batch reads first.
        let sql = now_and_stamp_sql(&self.now_expr(), self.bigint_cast());
        let r = on_conn!(self, c => sql_query(sql.as_str()).get_result::<NowStampRow>(c));
        let read = r.map_err(|e| self.fail(e))?.decode();
        self.saw_license(read.stamp.as_ref().map(|s| s.license_id.as_str()));
        Ok(read)
    }

    fn lock_pool(&mut self, pool: &PoolKey) -> Result<(), StorageError> {
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
        let insert = match self.backend() {
            Backend::Postgres => {
                "INSERT INTO pools (environment, product, version) VALUES (?, ?, 0) \
                 ON CONFLICT DO NOTHING"
            }
            Backend::Mysql => {
                "INSERT IGNORE INTO pools (environment, product, version) VALUES (?, ?, 0)"
            }
            Backend::Sqlite => {
                "INSERT OR IGNORE INTO pools (environment, product, version) VALUES (?, ?, 0)"
            }
        };
        let sql = self.sql(insert);
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<Text, _>(env)
            .bind::<Text, _>(product)
            .execute(c));
        r.map_err(|e| self.fail(e))?;
        let r = bump(self);
        self.expected_one("lock pool", r)
    }

    fn pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError> {
        let row = self.grant_by_instance(instance)?;
        self.pool_view_with_row(instance, now, expired_limit, row)
    }

    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError> {
        let id = id.to_string();
        let rows = on_conn!(self, c => grants::table
            .filter(grants::grant_id.eq(&id))
            .select(GrantRow::as_select())
            .load(c));
        Ok(self.load_grants(rows)?.into_iter().next())
    }

    fn grant_by_instance(
        &mut self,
        instance: &Instance,
    ) -> Result<Option<HeldGrant>, StorageError> {
        let port = i32::from(instance.port);
        let rows = on_conn!(self, c => grants::table
            .filter(grants::environment.eq(instance.environment.as_str()))
            .filter(grants::product.eq(instance.product.as_str()))
            .filter(grants::hostname.eq(instance.hostname.as_str()))
            .filter(grants::port.eq(port))
            .select(GrantRow::as_select())
            .load(c));
        Ok(self.load_grants(rows)?.into_iter().next())
    }

    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError> {
        self.read_ended(id)
    }

    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError> {
        match mutation {
            Mutation::Insert(g) => {
                let row = GrantRow::encode(g)?;
                let r = on_conn!(self, c => diesel::insert_into(grants::table)
                    .values(&row)
                    .execute(c));
                self.expected_one("insert grant", r)?;
                self.count_in_pool(&g.instance, 1, i64::from(g.facts.cores))
            }
            Mutation::Renew {
                grant_id,
                last_renewed,
                held_until,
                client_skew_ms,
            } => {
                let id = grant_id.to_string();
                let r = on_conn!(self, c => diesel::update(
                    grants::table.filter(grants::grant_id.eq(&id)),
                )
                .set((
                    grants::last_renewed.eq(last_renewed.0),
                    grants::held_until.eq(held_until.0),
                    grants::client_skew_ms.eq(*client_skew_ms),
                ))
                .execute(c));
                self.expected_one("renew grant", r)
            }
            Mutation::End { grant_id, usage } => {
                let id = grant_id.to_string();
                let r = on_conn!(self, c => diesel::delete(
                    grants::table.filter(grants::grant_id.eq(&id)),
                )
                .execute(c));
                self.expected_one("end grant", r)?;
                self.count_in_pool(&usage.instance, -1, -i64::from(usage.facts.cores))?;
                let mut row = UsageRowDb::encode(usage)?;
                if row.license_id.is_none() {
                    row.license_id = self.installed_license_id()?;
                }
                let r = on_conn!(self, c => diesel::insert_into(usage_history::table)
                    .values(&row)
                    .execute(c));
                self.expected_one("insert usage", r)
            }
        }
    }

    fn expired(&mut self, now: UnixMillis, limit: usize) -> Result<Vec<HeldGrant>, StorageError> {
        let rows = on_conn!(self, c => grants::table
            .filter(grants::held_until.le(now.0))
            .order((grants::held_until.asc(), grants::grant_id.asc()))
            .limit(limit_i64(limit))
            .select(GrantRow::as_select())
            .load(c));
        self.load_grants(rows)
    }

    fn held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError> {
        let rows = on_conn!(self, c => grants::table
            .select(GrantRow::as_select())
            .load(c));
        let mut held = self.load_grants(rows)?;
        // Sorted here, not by ORDER BY: database collations differ, the
        // model's order is Rust's.
        held.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(held)
    }

    fn grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        // The empty string sorts before every id in every collation.
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows = on_conn!(self, c => grants::table
            .filter(grants::grant_id.gt(&after))
            .order(grants::grant_id.asc())
            .limit(limit_i64(limit))
            .select(GrantRow::as_select())
            .load(c));
        self.load_grants(rows)
    }

    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<(PoolKey, PoolTotals)>, StorageError> {
        self.read_pool_totals(now)
    }

    fn pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<(PoolKey, u64)>, StorageError> {
        self.read_pool_in_grace(now, stale_before)
    }

    fn usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<(UsageCursor, UsageRow)>, StorageError> {
        self.read_usage_page(since, after, limit)
    }

    fn append_audit(&mut self, at: UnixMillis, entry: &AuditEntry) -> Result<(), StorageError> {
        self.insert_audit(at, entry)
    }

    fn audit_page(
        &mut self,
        since: UnixMillis,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<(AuditCursor, AuditRow)>, StorageError> {
        self.read_audit_page(since, after, limit)
    }

    fn audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<(AuditCursor, AuditRow)>, StorageError> {
        self.read_audit_page_newest(before, limit)
    }

    fn prune_audit(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        self.delete_audit_before(before, limit)
    }

    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError> {
        let r = on_conn!(self, c => license::table
            .filter(license::id.eq(LICENSE_ROW))
            .select(LicenseRow::as_select())
            .first(c)
            .optional());
        let stored = r.map_err(|e| self.fail(e))?.map(LicenseRow::decode);
        self.saw_license(stored.as_ref().map(|l| l.license_id.as_str()));
        Ok(stored)
    }

    fn license_stamp(&mut self) -> Result<Option<LicenseStamp>, StorageError> {
        let r = on_conn!(self, c => license::table
            .filter(license::id.eq(LICENSE_ROW))
            .select((license::license_id, license::issued_at))
            .first::<(String, i64)>(c)
            .optional());
        let stamp = r
            .map_err(|e| self.fail(e))?
            .map(|(license_id, issued)| LicenseStamp {
                license_id,
                issued_at: UnixMillis(issued),
            });
        self.saw_license(stamp.as_ref().map(|s| s.license_id.as_str()));
        Ok(stamp)
    }

    fn put_license(&mut self, stored: &StoredLicense) -> Result<(), StorageError> {
        self.saw_license(Some(&stored.license_id));
        let row = LicenseRow::encode(stored);
        let r = on_conn!(self, c => diesel::update(license::table.filter(license::id.eq(LICENSE_ROW)))
            .set(&row)
            .execute(c));
        if r.map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        let r = on_conn!(self, c => diesel::insert_into(license::table).values(&row).execute(c));
        self.expected_one("insert license", r)
    }

    fn managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError> {
        self.read_managers()
    }

    fn put_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError> {
        self.upsert_manager(record)
    }

    fn delete_manager(&mut self, node_id: &str) -> Result<(), StorageError> {
        self.remove_manager(node_id)
    }

    fn stored_clock(&mut self, now: UnixMillis) -> Result<StoredClock, StorageError> {
        self.read_stored_clock(now)
    }

    fn record_clock_step(&mut self, step: &RecordedStep) -> Result<(), StorageError> {
        self.insert_clock_step(step)
    }

    fn clock_steps(&mut self) -> Result<StepSummary, StorageError> {
        self.step_summary()
    }

    fn clock_steps_since(&mut self, after: i64, excluding: &str) -> Result<i64, StorageError> {
        self.steps_since(after, excluding)
    }

    fn recent_clock_steps(&mut self) -> Result<Vec<RecordedStep>, StorageError> {
        self.recent_steps()
    }

    fn raise_high_water(&mut self, at: UnixMillis) -> Result<(), StorageError> {
        self.raise_mark(at)
    }

    fn latest_deadline(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.max_deadline()
    }

    fn lock_registry(&mut self) -> Result<(), StorageError> {
        self.lock_clock_row()
    }

    fn usage_overlapping(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UsageRow>, StorageError> {
        self.read_usage_overlapping(from, to)
    }

    fn first_usage(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.read_first_usage()
    }

    fn lock_rollup(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.lock_rollup_row()
    }

    fn rollup_watermark(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.read_rollup_watermark()
    }

    fn put_rollups(&mut self, days: &[DayFigures], last: UnixMillis) -> Result<(), StorageError> {
        self.write_rollups(days, last)
    }

    fn rollups_between(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DayFigures>, StorageError> {
        self.read_rollups(from, to)
    }

    fn prune_usage(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        self.delete_usage_before(before, limit)
    }
}

impl BatchTx for DieselTx<'_> {
    fn excludes_other_writers(&self) -> bool {
        // Every SQLite transaction here begins IMMEDIATE: the database's one
        // write lock is held from BEGIN to COMMIT.
        self.backend() == Backend::Sqlite
    }

    fn pool_view_with_row(
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

    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        let expired = self.pool_expired(&instance.pool(), now, expired_limit)?;
        let row = self.grant_by_instance(instance)?;
        Ok(Self::view_of(now, held, expired, row))
    }

    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        // Bounded IN lists: every backend takes a few hundred parameters.
        for chunk in ids.chunks(256) {
            let keys: Vec<String> = chunk.iter().map(|id| id.to_string()).collect();
            let rows = on_conn!(self, c => grants::table
                .filter(grants::grant_id.eq_any(&keys))
                .select(GrantRow::as_select())
                .load(c));
            out.extend(self.load_grants(rows)?);
        }
        Ok(out)
    }

    fn grants_and_now(&mut self, ids: &[GrantId]) -> Result<GrantsAndNow, StorageError> {
        if !ids.is_empty()
            && let Some(read) = self.pg_grants_and_now(ids)?
        {
            return Ok(read);
        }
        let grants = self.grants(ids)?;
        Ok(GrantsAndNow {
            grants,
            read: self.now_and_license_stamp()?,
        })
    }

    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        self.rows_of_instances(instances)
    }

    fn apply_renewals(&mut self, renewals: &[Mutation]) -> Result<(), StorageError> {
        let mut rows = Vec::with_capacity(renewals.len());
        for m in renewals {
            match m {
                Mutation::Renew {
                    grant_id,
                    last_renewed,
                    held_until,
                    client_skew_ms,
                } => rows.push((
                    grant_id.to_string(),
                    last_renewed.0,
                    held_until.0,
                    *client_skew_ms,
                )),
                other => self.apply(other)?,
            }
        }
        // A few hundred parameters per statement suit every backend.
        for chunk in rows.chunks(64) {
            self.renew_rows(chunk)?;
        }
        Ok(())
    }

    fn apply_inserts(&mut self, inserts: &[Mutation]) -> Result<(), StorageError> {
        let mut new = Vec::with_capacity(inserts.len());
        for m in inserts {
            match m {
                Mutation::Insert(g) => new.push(g),
                other => self.apply(other)?,
            }
        }
        self.insert_grants(&new)
    }
}
