//! The storage port: what a manager needs from its database, one transaction
//! at a time. Two implementations: [`crate::memory::MemoryStore`] (the reference
//! semantics) and the diesel store (SQLite, PostgreSQL, MySQL).

mod batch;
mod error;

pub use crate::audit::AuditCursor;
pub use batch::{BatchTx, GrantsAndNow, apply_each, grants_then_now};
pub use error::{StorageError, StorageErrorKind};
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView, RecordedStep, StoredClock};
use tenure_core::report::DayFigures;
use tenure_core::wire::{AuditEntry, AuditRow, EndReason, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

/// The installed license as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLicense {
    pub license_id: String,
    pub issued_at: UnixMillis,
    /// The armoured text exactly as installed; verified again on load.
    pub armoured: String,
    pub installed_at: UnixMillis,
}

/// What [`Tx::now_and_license_stamp`] reads in one go: the storage clock,
/// what storage keeps of its steps, and the installed license's id and issue
/// time (`None` without a license).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowAndStamp {
    pub now: UnixMillis,
    /// Read at `now` (M9, T3).
    pub clock: StoredClock,
    pub stamp: Option<LicenseStamp>,
}

/// What tells one installed license from another without reading its text:
/// enough to know whether a verified copy is still current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseStamp {
    pub license_id: String,
    pub issued_at: UnixMillis,
}

/// What storage keeps of its clock's steps, for `/v1/health` (M9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSummary {
    /// Steps recorded since the database was created.
    pub count: u64,
    pub last: Option<RecordedStep>,
}

/// One pool's held grants, as [`Tx::pool_totals`] counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTotalsRow {
    pub pool: PoolKey,
    pub totals: PoolTotals,
}

/// How many of one pool's held grants have gone unrenewed, as
/// [`Tx::pool_in_grace`] counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInGrace {
    pub pool: PoolKey,
    /// Never zero: a pool without such a grant has no row.
    pub in_grace: u64,
}

/// A row of a page with its cursor, so that the page's last row says where
/// the next page starts: [`Tx::usage_page`] pairs a [`UsageRow`] with a
/// [`UsageCursor`], the audit pages an [`AuditRow`] with an [`AuditCursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<C, R> {
    pub cursor: C,
    pub row: R,
}

/// How many of the latest steps [`Tx::recent_clock_steps`] reads.
pub const RECENT_STEPS: usize = 64;

/// One database transaction. Methods read and write within it; nothing is
/// visible to others until [`Store::transaction`] commits.
pub trait Tx {
    /// The storage clock (T3): the database's own `now` for shared databases,
    /// the local clock for embedded SQLite.
    fn now(&mut self) -> Result<UnixMillis, StorageError>;

    /// Serialises every grant decision of `pool` (M1, M5) until commit, and
    /// creates the pool's row if needed. Call it before reading the pool.
    fn lock_pool(&mut self, pool: &PoolKey) -> Result<(), StorageError>;

    /// Aggregates of `instance`'s pool at `now`, its same-instance grant, and
    /// the pool's grants past their deadline (at most `expired_limit`).
    fn pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError>;

    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError>;
    fn grant_by_instance(&mut self, instance: &Instance)
    -> Result<Option<HeldGrant>, StorageError>;
    /// The usage row a grant left when it ended, if it has ended: a renewal
    /// of it answers from its end reason and instance (M3: `replaced` names
    /// the instance).
    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError>;
    /// The end reason of a grant that has left a usage row, if any.
    fn end_reason(&mut self, id: GrantId) -> Result<Option<EndReason>, StorageError> {
        Ok(self.ended(id)?.map(|u| u.end_reason))
    }
    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError>;
    /// Held grants past their deadline at `now`, across pools, oldest first.
    fn expired(&mut self, now: UnixMillis, limit: usize) -> Result<Vec<HeldGrant>, StorageError>;
    /// Every held grant, ordered by (environment, product, hostname, port).
    fn held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError>;
    /// One page of the admin listing: the grants with an id above `after`,
    /// in id order, at most `limit`. Ids are lower-case hex in every backend,
    /// so every collation orders them as [`GrantId`]'s `Ord` does and a
    /// cursor taken from one page is exact; the primary key serves the read.
    fn grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError>;
    /// Totals of grants held at `now`, per pool, ordered by pool.
    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<PoolTotalsRow>, StorageError>;
    /// Grants held at `now` but not renewed since `stale_before` (their
    /// components are in grace, or gone), per pool, ordered by pool; pools
    /// without one are left out.
    fn pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<PoolInGrace>, StorageError>;
    /// Usage rows that ended at or after `since`, oldest first, at most `limit`.
    fn usage_since(
        &mut self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<UsageRow>, StorageError> {
        let page = self.usage_page(since, None, limit)?;
        Ok(page.into_iter().map(|k| k.row).collect())
    }
    /// Like [`Tx::usage_since`], continuing after `after`, each row with its
    /// cursor: rows that ended in the same millisecond keep their order
    /// from page to page.
    fn usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<UsageCursor, UsageRow>>, StorageError>;

    // The audit trail (PROTOCOL 6.3). An action's row is appended by the
    // transaction that takes the action, so the row exists exactly when the
    // action committed.
    /// Appends `entry` at storage instant `at`.
    fn append_audit(&mut self, at: UnixMillis, entry: &AuditEntry) -> Result<(), StorageError>;
    /// Audit rows at or after `since`, past `after`, at most `limit`,
    /// ordered by (time, number): rows of one millisecond keep their order
    /// from page to page.
    fn audit_page(
        &mut self,
        since: UnixMillis,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError>;
    /// Audit rows before `before` (all of them without it), at most
    /// `limit`, newest first: the same order read backwards, so that a
    /// person reading the trail starts from what just happened and pages
    /// back with the last row's cursor.
    fn audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError>;
    /// Deletes at most `limit` rows older than `before`, oldest first, and
    /// says how many: a small batch keeps the transaction short.
    fn prune_audit(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError>;

    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError>;
    /// The installed license's stamp.
    fn license_stamp(&mut self) -> Result<Option<LicenseStamp>, StorageError> {
        Ok(self.license()?.map(|l| LicenseStamp {
            license_id: l.license_id,
            issued_at: l.issued_at,
        }))
    }
    /// [`Tx::now`], [`Tx::stored_clock`] and [`Tx::license_stamp`]
    /// together: one round trip where the backend allows it.
    fn now_and_license_stamp(&mut self) -> Result<NowAndStamp, StorageError> {
        let now = self.now()?;
        Ok(NowAndStamp {
            now,
            clock: self.stored_clock(now)?,
            stamp: self.license_stamp()?,
        })
    }

    /// What storage keeps of its clock at storage instant `now`: the
    /// recorded forward steps still open there, and the high-water mark.
    fn stored_clock(&mut self, now: UnixMillis) -> Result<StoredClock, StorageError>;
    /// Records a step of the storage clock (M9). A step, forward or back,
    /// also moves the window end of every forward step open at the instant
    /// the clock would show without it (`tenure_core::manager::clock_watch::record_step`).
    fn record_clock_step(&mut self, step: &RecordedStep) -> Result<(), StorageError>;
    /// How many steps are recorded, and the latest.
    fn clock_steps(&mut self) -> Result<StepSummary, StorageError>;
    /// The signed sum of the steps recorded after step number `after` (see
    /// [`StoredClock::last_step`]) by a node other than `excluding`.
    fn clock_steps_since(&mut self, after: i64, excluding: &str) -> Result<i64, StorageError>;
    /// The latest steps, oldest first, at most [`RECENT_STEPS`]: read once
    /// by a manager starting below the high-water mark, to tell a step
    /// already recorded from a new one.
    fn recent_clock_steps(&mut self) -> Result<Vec<RecordedStep>, StorageError>;
    /// Raises the high-water mark of the storage clock to `at` (T3); a mark
    /// already later stays.
    fn raise_high_water(&mut self, at: UnixMillis) -> Result<(), StorageError>;
    /// The latest `held_until` of any grants row, if there is one.
    fn latest_deadline(&mut self) -> Result<Option<UnixMillis>, StorageError>;
    /// Serialises heartbeats (M6) until commit: two managers registering at
    /// the same instant each see the other's row, never neither.
    fn lock_registry(&mut self) -> Result<(), StorageError>;
    fn put_license(&mut self, license: &StoredLicense) -> Result<(), StorageError>;

    fn managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError>;
    fn put_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError>;
    fn delete_manager(&mut self, node_id: &str) -> Result<(), StorageError>;

    // Usage reports (6.3): closed days rolled up, and usage retention.

    /// The usage rows of grants held in `[from, to)` or that ended in it
    /// (`first_request_ms < to` and `ended_ms >= from`), in no particular
    /// order.
    fn usage_overlapping(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UsageRow>, StorageError>;
    /// The earliest start of any usage row or grants row, if any.
    fn first_usage(&mut self) -> Result<Option<UnixMillis>, StorageError>;
    /// Serialises roll-ups until commit, and reads the last day rolled up
    /// (its midnight, UTC), if any.
    fn lock_rollup(&mut self) -> Result<Option<UnixMillis>, StorageError>;
    /// The last day rolled up, read without a lock.
    fn rollup_watermark(&mut self) -> Result<Option<UnixMillis>, StorageError>;
    /// Writes the figures of closed days (none of them rolled up before)
    /// and moves the watermark to `last`, the last of those days.
    fn put_rollups(&mut self, days: &[DayFigures], last: UnixMillis) -> Result<(), StorageError>;
    /// The rolled-up figures of the days starting in `[from, to)`, in no
    /// particular order.
    fn rollups_between(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DayFigures>, StorageError>;
    /// Deletes at most `limit` usage rows that ended before `before`, the
    /// oldest first; returns how many it deleted.
    fn prune_usage(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError>;
}

/// A database. `transaction` runs `f` in one transaction and commits when it
/// returns `Ok`; it retries `f` a bounded number of times on serialization
/// failures and deadlocks, so `f` must be safe to run again. Every
/// transaction offers the batch reads and writes too; code that needs only
/// [`Tx`] takes it as one.
pub trait Store: Send + Sync {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError>;
}

/// Where a page of usage rows ends: the last row's end time and its number
/// in storage (rows are numbered in the order they are written). Shown to
/// clients as `ENDED.NUMBER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsageCursor {
    pub ended_ms: i64,
    pub id: i64,
}

impl std::fmt::Display for UsageCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.ended_ms, self.id)
    }
}

impl std::str::FromStr for UsageCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a usage cursor (ENDED.NUMBER, from a Link header)");
        let (ended, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            ended_ms: ended.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}
