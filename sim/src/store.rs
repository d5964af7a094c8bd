//! The store each simulated manager talks to: the shared in-memory database
//! behind a per-manager connection that a partition can cut and a database
//! outage all managers share, and (only for the teeth tests) a planted
//! reclaim bug or a lost high-water mark. The code under test is not touched.
//! The checkers read the database itself, which neither fault cuts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView, RecordedStep, StoredClock};
use tenure_core::report::DayFigures;
use tenure_core::wire::{AuditEntry, AuditRow, EndReason, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::port::{apply_each, grants_then_now};
use tenure_storage::{
    AuditCursor, BatchTx, GrantsAndNow, Keyed, MemoryStore, PoolInGrace, PoolTotalsRow,
    StepSummary, StorageError, Store, StoredLicense, Tx, UsageCursor,
};

#[derive(Clone)]
pub struct SimStore {
    inner: MemoryStore,
    reachable: Arc<AtomicBool>,
    /// The database's own outage, one flag for every manager's connection.
    db_up: Arc<AtomicBool>,
    /// Planted bug 1: held only until `last_renewed + lease_ttl`.
    reclaim_after_ms: Option<u64>,
    /// Planted bug: storage keeps no high-water mark (T3).
    lose_high_water: bool,
}

impl std::fmt::Debug for SimStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStore").finish_non_exhaustive()
    }
}

impl SimStore {
    pub fn new(
        inner: MemoryStore,
        db_up: Arc<AtomicBool>,
        reclaim_after_ms: Option<u64>,
        lose_high_water: bool,
    ) -> Self {
        Self {
            inner,
            reachable: Arc::new(AtomicBool::new(true)),
            db_up,
            reclaim_after_ms,
            lose_high_water,
        }
    }

    pub fn set_reachable(&self, up: bool) {
        self.reachable.store(up, Ordering::SeqCst);
    }

    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::SeqCst)
    }
}

impl Store for SimStore {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if !self.reachable() {
            return Err(StorageError::unavailable(
                "simulated partition between manager and database",
            ));
        }
        if !self.db_up.load(Ordering::SeqCst) {
            return Err(StorageError::unavailable("simulated database outage"));
        }
        if self.reclaim_after_ms.is_none() && !self.lose_high_water {
            return self.inner.transaction(f);
        }
        self.inner.transaction(&mut |tx| {
            let mut bug = BuggyTx {
                inner: tx,
                ms: self.reclaim_after_ms,
                lose_high_water: self.lose_high_water,
            };
            f(&mut bug)
        })
    }
}

/// Delegates everything, but rewrites `held_until` of inserts and renewals,
/// or keeps no high-water mark. The batch shortcuts go through its own reads
/// and writes, so that a batch meets the planted bug as a lone request does.
struct BuggyTx<'a> {
    inner: &'a mut dyn BatchTx,
    ms: Option<u64>,
    lose_high_water: bool,
}

impl Tx for BuggyTx<'_> {
    fn now(&mut self) -> Result<UnixMillis, StorageError> {
        self.inner.now()
    }
    fn lock_pool(&mut self, pool: &PoolKey) -> Result<(), StorageError> {
        self.inner.lock_pool(pool)
    }
    fn pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError> {
        self.inner.pool_view(instance, now, expired_limit)
    }
    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError> {
        self.inner.grant(id)
    }
    fn grant_by_instance(
        &mut self,
        instance: &Instance,
    ) -> Result<Option<HeldGrant>, StorageError> {
        self.inner.grant_by_instance(instance)
    }
    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError> {
        self.inner.ended(id)
    }
    fn end_reason(&mut self, id: GrantId) -> Result<Option<EndReason>, StorageError> {
        self.inner.end_reason(id)
    }
    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError> {
        let Some(ms) = self.ms else {
            return self.inner.apply(mutation);
        };
        let ttl = std::time::Duration::from_millis(ms);
        match mutation {
            Mutation::Insert(g) => {
                let mut g = g.clone();
                g.held_until = g.last_renewed.saturating_add(ttl);
                self.inner.apply(&Mutation::Insert(g))
            }
            Mutation::Renew {
                grant_id,
                last_renewed,
                client_skew_ms,
                ..
            } => self.inner.apply(&Mutation::Renew {
                grant_id: *grant_id,
                last_renewed: *last_renewed,
                held_until: last_renewed.saturating_add(ttl),
                client_skew_ms: *client_skew_ms,
            }),
            other => self.inner.apply(other),
        }
    }
    fn expired(&mut self, now: UnixMillis, limit: usize) -> Result<Vec<HeldGrant>, StorageError> {
        self.inner.expired(now, limit)
    }
    fn held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError> {
        self.inner.held_grants()
    }
    fn grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        self.inner.grants_after(after, limit)
    }
    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<PoolTotalsRow>, StorageError> {
        self.inner.pool_totals(now)
    }
    fn pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<PoolInGrace>, StorageError> {
        self.inner.pool_in_grace(now, stale_before)
    }
    fn usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<UsageCursor, UsageRow>>, StorageError> {
        self.inner.usage_page(since, after, limit)
    }
    fn append_audit(&mut self, at: UnixMillis, entry: &AuditEntry) -> Result<(), StorageError> {
        self.inner.append_audit(at, entry)
    }
    fn audit_page(
        &mut self,
        since: UnixMillis,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        self.inner.audit_page(since, after, limit)
    }
    fn audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        self.inner.audit_page_newest(before, limit)
    }
    fn prune_audit(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        self.inner.prune_audit(before, limit)
    }
    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError> {
        self.inner.license()
    }
    fn put_license(&mut self, license: &StoredLicense) -> Result<(), StorageError> {
        self.inner.put_license(license)
    }
    fn managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError> {
        self.inner.managers()
    }
    fn put_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError> {
        self.inner.put_manager(record)
    }
    fn delete_manager(&mut self, node_id: &str) -> Result<(), StorageError> {
        self.inner.delete_manager(node_id)
    }
    fn usage_overlapping(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UsageRow>, StorageError> {
        self.inner.usage_overlapping(from, to)
    }
    fn first_usage(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.inner.first_usage()
    }
    fn lock_rollup(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.inner.lock_rollup()
    }
    fn rollup_watermark(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.inner.rollup_watermark()
    }
    fn put_rollups(&mut self, days: &[DayFigures], last: UnixMillis) -> Result<(), StorageError> {
        self.inner.put_rollups(days, last)
    }
    fn rollups_between(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DayFigures>, StorageError> {
        self.inner.rollups_between(from, to)
    }
    fn prune_usage(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        self.inner.prune_usage(before, limit)
    }
    fn stored_clock(&mut self, now: UnixMillis) -> Result<StoredClock, StorageError> {
        let mut clock = self.inner.stored_clock(now)?;
        if self.lose_high_water {
            clock.high_water = None;
        }
        Ok(clock)
    }
    fn record_clock_step(&mut self, step: &RecordedStep) -> Result<(), StorageError> {
        self.inner.record_clock_step(step)
    }
    fn clock_steps(&mut self) -> Result<StepSummary, StorageError> {
        self.inner.clock_steps()
    }
    fn recent_clock_steps(&mut self) -> Result<Vec<RecordedStep>, StorageError> {
        self.inner.recent_clock_steps()
    }

    fn clock_steps_since(&mut self, after: i64, excluding: &str) -> Result<i64, StorageError> {
        self.inner.clock_steps_since(after, excluding)
    }
    fn raise_high_water(&mut self, at: UnixMillis) -> Result<(), StorageError> {
        if self.lose_high_water {
            return Ok(());
        }
        self.inner.raise_high_water(at)
    }
    fn latest_deadline(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        self.inner.latest_deadline()
    }
    fn lock_registry(&mut self) -> Result<(), StorageError> {
        self.inner.lock_registry()
    }
}

impl BatchTx for BuggyTx<'_> {
    fn excludes_other_writers(&self) -> bool {
        // The path a shared database takes: grants and clock read together
        // after the locks, through the bug.
        false
    }
    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        let view = self.pool_view(instance, now, expired_limit)?;
        Ok(PoolView { held, ..view })
    }
    fn pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        _row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError> {
        // The batch's copy of the row holds the deadline it decided, not the
        // one the bug wrote: read what is stored.
        self.pool_view(instance, now, expired_limit)
    }
    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        self.inner.grants(ids)
    }
    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        self.inner.grants_by_instance(instances)
    }
    fn grants_and_now(&mut self, ids: &[GrantId]) -> Result<GrantsAndNow, StorageError> {
        grants_then_now(self, ids)
    }
    fn apply_renewals(&mut self, renewals: &[Mutation]) -> Result<(), StorageError> {
        apply_each(self, renewals)
    }
    fn apply_inserts(&mut self, inserts: &[Mutation]) -> Result<(), StorageError> {
        apply_each(self, inserts)
    }
}
