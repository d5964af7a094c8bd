//! What the database keeps of its own clock (M9, T3) and the registry lock
//! heartbeats take (M6). Every deciding transaction reads the open steps and
//! the high-water mark in the statement that reads the clock and the license
//! stamp; the other statements here run at most once per step, and at each
//! heartbeat.

use super::{Conn, DieselTx};
use crate::port::{LicenseStamp, NowAndStamp, RECENT_STEPS, StepSummary, StorageError};
use crate::sql::connection::Backend;
use crate::sql::rows::{CLOCK_ROW, LICENSE_ROW, StepRow};
use crate::sql::schema::{clock_state, clock_steps, grants};
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::dsl::max;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{PgConnection, SqliteConnection, sql_query};
use tenure_core::UnixMillis;
use tenure_core::manager::{RecordedStep, StoredClock};

#[derive(QueryableByName, Default)]
pub(super) struct NowStampRow {
    #[diesel(sql_type = BigInt)]
    now_ms: i64,
    #[diesel(sql_type = Nullable<Text>)]
    license_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    issued_at: Option<i64>,
    #[diesel(embed)]
    clock: StoredClockRow,
}

#[derive(QueryableByName, Default)]
pub(super) struct StoredClockRow {
    #[diesel(sql_type = BigInt)]
    forward_ms: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    high_water_ms: Option<i64>,
    #[diesel(sql_type = BigInt)]
    last_step: i64,
}

impl StoredClockRow {
    pub(super) fn decode(self) -> StoredClock {
        StoredClock {
            forward_ms: self.forward_ms,
            high_water: self.high_water_ms.map(UnixMillis),
            last_step: self.last_step,
        }
    }
}

/// The columns of what storage keeps of its clock at instant `now` (an SQL
/// expression): the open forward steps (M9) and the high-water mark (T3).
pub(super) fn stored_clock_columns(now: &str, bigint: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(size_ms), 0) AS {bigint}) FROM clock_steps \
         WHERE size_ms > 0 AND until_ms > {now}) AS forward_ms, \
         (SELECT high_water_ms FROM clock_state WHERE id = {CLOCK_ROW}) AS high_water_ms, \
         (SELECT CAST(COALESCE(MAX(id), 0) AS {bigint}) FROM clock_steps) AS last_step"
    )
}

/// A query of one row: the clock (`now_ms`, read once by `now_expr`), the
/// license stamp (`license_id`, `issued_at`, NULL without a license), and
/// the stored clock at that instant.
pub(super) fn now_and_stamp_sql(now_expr: &str, bigint: &str) -> String {
    format!(
        "SELECT n.now_ms AS now_ms, \
         (SELECT license_id FROM license WHERE id = {LICENSE_ROW}) AS license_id, \
         (SELECT issued_at FROM license WHERE id = {LICENSE_ROW}) AS issued_at, {} \
         FROM (SELECT {now_expr} AS now_ms) AS n",
        stored_clock_columns("n.now_ms", bigint)
    )
}

impl NowStampRow {
    pub(super) fn decode(self) -> NowAndStamp {
        let stamp = match (self.license_id, self.issued_at) {
            (Some(license_id), Some(issued)) => Some(LicenseStamp {
                license_id,
                issued_at: UnixMillis(issued),
            }),
            _ => None,
        };
        NowAndStamp {
            now: UnixMillis(self.now_ms),
            clock: self.clock.decode(),
            stamp,
        }
    }
}

impl DieselTx<'_> {
    pub(super) fn read_stored_clock(
        &mut self,
        now: UnixMillis,
    ) -> Result<StoredClock, StorageError> {
        let sql = self.sql(&format!(
            "SELECT {}",
            stored_clock_columns("?", self.bigint_cast())
        ));
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<BigInt, _>(now.0)
            .get_result::<StoredClockRow>(c));
        Ok(r.map_err(|e| self.fail(e))?.decode())
    }

    /// `tenure_core::manager::clock_watch::record_step` in SQL.
    pub(super) fn insert_clock_step(&mut self, step: &RecordedStep) -> Result<(), StorageError> {
        let mut row = StepRow::encode(step);
        if step.step.is_forward() {
            // The deadline the window was measured from may be on a clock
            // older by the steps still open before this one.
            let older = self.read_stored_clock(step.step.unstepped())?.forward_ms;
            row.until_ms = row.until_ms.saturating_add(older);
        }
        // Window ends were on the clock before this step, forward or back.
        let size = step.step.size_ms;
        let before = step.step.unstepped().0.min(step.step.seen_at.0);
        let r = on_conn!(self, c => diesel::update(
            clock_steps::table
                .filter(clock_steps::size_ms.gt(0))
                .filter(clock_steps::until_ms.gt(before)),
        )
        .set(clock_steps::until_ms.eq(clock_steps::until_ms + size))
        .execute(c));
        r.map_err(|e| self.fail(e))?;
        let r = on_conn!(self, c => diesel::insert_into(clock_steps::table)
            .values(&row)
            .execute(c));
        self.expected_one("record clock step", r)
    }

    pub(super) fn steps_since(&mut self, after: i64, excluding: &str) -> Result<i64, StorageError> {
        let r = on_conn!(self, c => clock_steps::table
            .filter(clock_steps::id.gt(after))
            .filter(clock_steps::node_id.ne(excluding))
            .select(clock_steps::size_ms)
            .load::<i64>(c));
        Ok(r.map_err(|e| self.fail(e))?
            .into_iter()
            .fold(0i64, i64::saturating_add))
    }

    pub(super) fn step_summary(&mut self) -> Result<StepSummary, StorageError> {
        let count = on_conn!(self, c => clock_steps::table.count().get_result::<i64>(c));
        let count = count.map_err(|e| self.fail(e))?;
        let last = on_conn!(self, c => clock_steps::table
            .order(clock_steps::id.desc())
            .select(StepRow::as_select())
            .first(c)
            .optional());
        Ok(StepSummary {
            count: u64::try_from(count).unwrap_or(0),
            last: last.map_err(|e| self.fail(e))?.map(StepRow::decode),
        })
    }

    pub(super) fn recent_steps(&mut self) -> Result<Vec<RecordedStep>, StorageError> {
        let limit = i64::try_from(RECENT_STEPS).unwrap_or(i64::MAX);
        let rows = on_conn!(self, c => clock_steps::table
            .order(clock_steps::id.desc())
            .select(StepRow::as_select())
            .limit(limit)
            .load(c));
        let mut recent: Vec<RecordedStep> = rows
            .map_err(|e| self.fail(e))?
            .into_iter()
            .map(StepRow::decode)
            .collect();
        recent.reverse();
        Ok(recent)
    }

    pub(super) fn raise_mark(&mut self, at: UnixMillis) -> Result<(), StorageError> {
        let raise = |tx: &mut Self| {
            on_conn!(tx, c => diesel::update(
                clock_state::table.filter(clock_state::id.eq(CLOCK_ROW)).filter(
                    clock_state::high_water_ms
                        .is_null()
                        .or(clock_state::high_water_ms.lt(at.0)),
                ),
            )
            .set(clock_state::high_water_ms.eq(Some(at.0)))
            .execute(c))
        };
        if raise(self).map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        // Already as late, or the row is gone (restored by hand): create it.
        self.ensure_clock_row()?;
        raise(self).map_err(|e| self.fail(e)).map(|_| ())
    }

    pub(super) fn max_deadline(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        let r = on_conn!(self, c => grants::table
            .select(max(grants::held_until))
            .first::<Option<i64>>(c));
        Ok(r.map_err(|e| self.fail(e))?.map(UnixMillis))
    }

    /// The row lock this UPDATE takes (PostgreSQL, InnoDB) is held until
    /// commit; SQLite took its write lock at BEGIN IMMEDIATE.
    pub(super) fn lock_clock_row(&mut self) -> Result<(), StorageError> {
        let bump = |tx: &mut Self| {
            on_conn!(tx, c => diesel::update(
                clock_state::table.filter(clock_state::id.eq(CLOCK_ROW)),
            )
            .set(clock_state::version.eq(clock_state::version + 1))
            .execute(c))
        };
        if bump(self).map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        self.ensure_clock_row()?;
        let r = bump(self);
        self.expected_one("lock the managers registry", r)
    }

    fn ensure_clock_row(&mut self) -> Result<(), StorageError> {
        let insert = match self.backend() {
            Backend::Postgres => {
                "INSERT INTO clock_state (id, version) VALUES (?, 0) ON CONFLICT DO NOTHING"
            }
            Backend::Mysql => "INSERT IGNORE INTO clock_state (id, version) VALUES (?, 0)",
            Backend::Sqlite => "INSERT OR IGNORE INTO clock_state (id, version) VALUES (?, 0)",
        };
        let sql = self.sql(insert);
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<diesel::sql_types::Integer, _>(CLOCK_ROW)
            .execute(c));
        r.map_err(|e| self.fail(e)).map(|_| ())
    }
}

#[derive(QueryableByName)]
struct NowRow {
    #[diesel(sql_type = BigInt)]
    now_ms: i64,
}

impl DieselTx<'_> {
    pub(super) fn read_now(&mut self) -> Result<UnixMillis, StorageError> {
        let sql = format!("SELECT {} AS now_ms", self.now_expr());
        let r = on_conn!(self, c => sql_query(sql.as_str()).get_result::<NowRow>(c));
        Ok(UnixMillis(r.map_err(|e| self.fail(e))?.now_ms))
    }

    pub(super) fn read_now_and_stamp(&mut self) -> Result<NowAndStamp, StorageError> {
        // One round trip for what every batch reads first.
        let sql = now_and_stamp_sql(&self.now_expr(), self.bigint_cast());
        let r = on_conn!(self, c => sql_query(sql.as_str()).get_result::<NowStampRow>(c));
        let read = r.map_err(|e| self.fail(e))?.decode();
        self.saw_license(read.stamp.as_ref().map(|s| s.license_id.as_str()));
        Ok(read)
    }
}
