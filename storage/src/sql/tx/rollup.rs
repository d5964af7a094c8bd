//! Roll-ups of closed days (6.3): one row per day and pool in
//! `usage_daily`, and the single row of `usage_rollup` that says which day
//! was rolled up last and serialises roll-ups.

use super::{Conn, DieselTx};
use crate::port::StorageError;
use crate::sql::schema::{usage_daily, usage_rollup};
use diesel::prelude::*;
use tenure_core::UnixMillis;
use tenure_core::names::Name;
use tenure_core::report::{DayFigures, EndCounts, Figures};
use tenure_core::wire::PoolKey;

/// The single row of `usage_rollup`.
const ROLLUP_ROW: i32 = 1;

/// Day rows per INSERT: 15 parameters each.
const INSERT_CHUNK: usize = 64;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_daily)]
struct DailyRow {
    day_ms: i64,
    environment: String,
    product: String,
    peak_servers: i64,
    peak_cores: i64,
    server_ms: i64,
    core_ms: i64,
    grants_started: i64,
    ended_released: i64,
    ended_replaced: i64,
    ended_revoked: i64,
    ended_grace_exceeded: i64,
    ended_license_expired: i64,
    ended_admin_released: i64,
    license_id: Option<String>,
}

fn corrupt(what: impl std::fmt::Display) -> StorageError {
    StorageError::corrupt(format!("usage_daily: {what}"))
}

/// A figure about to be written. The roll-up counted it; no row read back
/// is at fault when it cannot be stored, so it is not `Corrupt`.
fn signed(n: u64) -> Result<i64, StorageError> {
    i64::try_from(n)
        .map_err(|_| StorageError::internal(format!("usage_daily: {n} does not fit a BIGINT")))
}

fn unsigned(n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| corrupt(format!("negative figure {n}")))
}

impl DailyRow {
    fn encode(d: &DayFigures) -> Result<Self, StorageError> {
        let f = &d.figures;
        let e = &f.grants_ended;
        Ok(Self {
            day_ms: d.day_ms,
            environment: d.pool.environment.as_str().to_owned(),
            product: d.pool.product.as_str().to_owned(),
            peak_servers: signed(f.peak_servers)?,
            peak_cores: signed(f.peak_cores)?,
            server_ms: signed(f.server_ms)?,
            core_ms: signed(f.core_ms)?,
            grants_started: signed(f.grants_started)?,
            ended_released: signed(e.released)?,
            ended_replaced: signed(e.replaced)?,
            ended_revoked: signed(e.revoked)?,
            ended_grace_exceeded: signed(e.grace_exceeded)?,
            ended_license_expired: signed(e.license_expired)?,
            ended_admin_released: signed(e.admin_released)?,
            license_id: d.license_id.clone(),
        })
    }

    fn decode(self) -> Result<DayFigures, StorageError> {
        Ok(DayFigures {
            day_ms: self.day_ms,
            pool: PoolKey {
                environment: Name::parse("environment", &self.environment).map_err(corrupt)?,
                product: Name::parse("product", &self.product).map_err(corrupt)?,
            },
            figures: Figures {
                peak_servers: unsigned(self.peak_servers)?,
                peak_cores: unsigned(self.peak_cores)?,
                server_ms: unsigned(self.server_ms)?,
                core_ms: unsigned(self.core_ms)?,
                grants_started: unsigned(self.grants_started)?,
                grants_ended: EndCounts {
                    released: unsigned(self.ended_released)?,
                    replaced: unsigned(self.ended_replaced)?,
                    revoked: unsigned(self.ended_revoked)?,
                    grace_exceeded: unsigned(self.ended_grace_exceeded)?,
                    license_expired: unsigned(self.ended_license_expired)?,
                    admin_released: unsigned(self.ended_admin_released)?,
                },
            },
            license_id: self.license_id,
        })
    }
}

impl DieselTx<'_> {
    pub(super) fn lock_rollup_row(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        // The row lock this UPDATE takes (PostgreSQL, InnoDB) is held until
        // commit: two managers never roll up one day twice.
        let r = on_conn!(self, c => diesel::update(
            usage_rollup::table.filter(usage_rollup::id.eq(ROLLUP_ROW)),
        )
        .set(usage_rollup::version.eq(usage_rollup::version + 1))
        .execute(c));
        self.expected_one("lock usage_rollup", r)?;
        self.read_rollup_watermark()
    }

    pub(super) fn read_rollup_watermark(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        let r = on_conn!(self, c => usage_rollup::table
            .filter(usage_rollup::id.eq(ROLLUP_ROW))
            .select(usage_rollup::last_day_ms)
            .first::<Option<i64>>(c)
            .optional());
        Ok(r.map_err(|e| self.fail(e))?.flatten().map(UnixMillis))
    }

    pub(super) fn write_rollups(
        &mut self,
        days: &[DayFigures],
        last: UnixMillis,
    ) -> Result<(), StorageError> {
        for chunk in days.chunks(INSERT_CHUNK) {
            let rows = chunk
                .iter()
                .map(DailyRow::encode)
                .collect::<Result<Vec<_>, _>>()?;
            let r = on_conn!(self, c => diesel::insert_into(usage_daily::table)
                .values(&rows)
                .execute(c));
            // The port's rule is that a day is rolled up once, and the
            // roll-up lock serialises managers: a day there already is a
            // fault of ours, as the memory store reports it.
            if let Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            )) = &r
            {
                return Err(StorageError::internal(format!(
                    "usage_daily: a day of this roll-up is rolled up already ({})",
                    info.message()
                )));
            }
            self.expected_rows("insert usage_daily", r, rows.len())?;
        }
        let r = on_conn!(self, c => diesel::update(
            usage_rollup::table.filter(usage_rollup::id.eq(ROLLUP_ROW)),
        )
        .set(usage_rollup::last_day_ms.eq(Some(last.0)))
        .execute(c));
        self.expected_one("move usage_rollup", r)
    }

    pub(super) fn read_rollups(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DayFigures>, StorageError> {
        let r = on_conn!(self, c => usage_daily::table
            .filter(usage_daily::day_ms.ge(from.0))
            .filter(usage_daily::day_ms.lt(to.0))
            .select(DailyRow::as_select())
            .load(c));
        r.map_err(|e| self.fail(e))?
            .into_iter()
            .map(DailyRow::decode)
            .collect()
    }
}
