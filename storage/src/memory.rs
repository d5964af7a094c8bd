//! The in-memory store: the reference semantics of the port, deterministic,
//! with its clock injected. The simulator and property tests run on it.

use crate::port::{
    AuditCursor, BatchTx, GrantsAndNow, Keyed, LicenseStamp, PoolInGrace, PoolTotalsRow,
    RECENT_STEPS, StepSummary, StorageError, Store, StoredLicense, Tx, UsageCursor, apply_each,
    grants_then_now,
};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tenure_core::health::ManagerRecord;
use tenure_core::manager::clock_watch::{open_forward_ms, record_step, recorded_since};
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView, RecordedStep, StoredClock};
use tenure_core::report::DayFigures;
use tenure_core::wire::{AuditEntry, AuditRow, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

/// The clock a memory store reads as "the database's now".
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

#[derive(Debug, Default)]
struct State {
    grants: BTreeMap<GrantId, HeldGrant>,
    by_instance: BTreeMap<Instance, GrantId>,
    /// Usage rows with their numbers (from 1, in the order written, as a
    /// database numbers them); appended, taken back from the end by a
    /// rollback, or pruned.
    usage: Vec<(i64, UsageRow)>,
    /// The number of the last usage row written.
    usage_seq: i64,
    /// The number of each ended grant's usage row.
    ended: BTreeMap<GrantId, i64>,
    rollups: BTreeMap<(i64, PoolKey), DayFigures>,
    rollup_mark: Option<UnixMillis>,
    license: Option<StoredLicense>,
    managers: BTreeMap<String, ManagerRecord>,
    clock_steps: Vec<RecordedStep>,
    high_water: Option<UnixMillis>,
    /// The audit trail by row number; numbers, as a database's sequence,
    /// are not taken back by a rollback.
    audit: BTreeMap<i64, (UnixMillis, AuditEntry)>,
    audit_numbered: i64,
    /// The undo log's buffer, kept between transactions so that a
    /// transaction allocates nothing for it.
    spare_undo: Vec<Undo>,
}

/// One store shared by every manager that holds a clone of it.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    clock: Clock,
    available: Arc<AtomicBool>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new(clock: Clock) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            clock,
            available: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Simulates a database outage: every transaction fails `Unavailable`.
    pub fn set_available(&self, up: bool) {
        self.available.store(up, Ordering::SeqCst);
    }

    /// When held grant `id` was last renewed, read without a transaction
    /// or a copy of the grant: for checkers that look after every answer.
    pub fn last_renewed(&self, id: GrantId) -> Option<UnixMillis> {
        self.lock().grants.get(&id).map(|g| g.last_renewed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Transactions undo their writes before they return an error, so the
        // state behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How to take back one write of a transaction that fails.
#[derive(Debug)]
enum Undo {
    Inserted(GrantId),
    /// A renewal changes three fields: keep only their old values.
    Renewed {
        id: GrantId,
        last_renewed: UnixMillis,
        held_until: UnixMillis,
        client_skew_ms: Option<i64>,
    },
    Ended {
        grant: HeldGrant,
        previous_end: Option<i64>,
    },
    /// Rows pruned, and the ended grants that pointed at them.
    Pruned(Vec<(i64, UsageRow)>, Vec<(GrantId, i64)>),
    Rollups(Vec<(i64, PoolKey)>, Option<UnixMillis>),
    License(Option<StoredLicense>),
    Manager(String, Option<ManagerRecord>),
    /// A recorded step, and the windows it moved as they were.
    ClockSteps(Vec<RecordedStep>),
    HighWater(Option<UnixMillis>),
    AuditAppended(i64),
    AuditPruned(Vec<(i64, (UnixMillis, AuditEntry))>),
}

struct MemTx<'a> {
    state: &'a mut State,
    now: UnixMillis,
    undo: Vec<Undo>,
}

impl MemTx<'_> {
    fn rollback(&mut self) {
        let s = &mut *self.state;
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Inserted(id) => {
                    if let Some(g) = s.grants.remove(&id) {
                        s.by_instance.remove(&g.instance);
                    }
                }
                Undo::Renewed {
                    id,
                    last_renewed,
                    held_until,
                    client_skew_ms,
                } => {
                    if let Some(g) = s.grants.get_mut(&id) {
                        g.last_renewed = last_renewed;
                        g.held_until = held_until;
                        g.client_skew_ms = client_skew_ms;
                    }
                }
                Undo::Ended {
                    grant,
                    previous_end,
                } => {
                    if let Some((n, _)) = s.usage.pop() {
                        s.usage_seq = n - 1;
                    }
                    match previous_end {
                        Some(r) => s.ended.insert(grant.grant_id, r),
                        None => s.ended.remove(&grant.grant_id),
                    };
                    s.by_instance.insert(grant.instance.clone(), grant.grant_id);
                    s.grants.insert(grant.grant_id, grant);
                }
                Undo::Pruned(rows, ended) => {
                    s.usage.extend(rows);
                    s.usage.sort_by_key(|(n, _)| *n);
                    s.ended.extend(ended);
                }
                Undo::Rollups(keys, mark) => {
                    for k in keys {
                        s.rollups.remove(&k);
                    }
                    s.rollup_mark = mark;
                }
                Undo::License(old) => s.license = old,
                Undo::ClockSteps(old) => s.clock_steps = old,
                Undo::HighWater(old) => s.high_water = old,
                Undo::AuditAppended(id) => {
                    s.audit.remove(&id);
                }
                Undo::AuditPruned(rows) => s.audit.extend(rows),
                Undo::Manager(id, old) => {
                    match old {
                        Some(r) => s.managers.insert(id, r),
                        None => s.managers.remove(&id),
                    };
                }
            }
        }
    }
}

impl Store for MemoryStore {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if !self.available.load(Ordering::SeqCst) {
            return Err(StorageError::unavailable("memory store is down"));
        }
        let mut guard = self.lock();
        let undo = std::mem::take(&mut guard.spare_undo);
        let mut tx = MemTx {
            state: &mut guard,
            now: (self.clock)(),
            undo,
        };
        let out = f(&mut tx);
        if out.is_err() {
            tx.rollback();
        }
        let mut undo = tx.undo;
        undo.clear();
        guard.spare_undo = undo;
        out
    }
}

fn in_pool(g: &HeldGrant, pool: &PoolKey) -> bool {
    g.instance.environment == pool.environment && g.instance.product == pool.product
}

impl BatchTx for MemTx<'_> {
    fn excludes_other_writers(&self) -> bool {
        // The store's mutex is held from the first statement to the last.
        true
    }

    // Reading costs nothing here, so the shortcuts read anyway: the model
    // checks, in debug builds, that what the batch kept is what is stored.

    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        let view = self.pool_view(instance, now, expired_limit)?;
        debug_assert_eq!(view.held, held, "batch's count of {instance:?}'s pool");
        Ok(PoolView { held, ..view })
    }

    fn pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError> {
        debug_assert_eq!(
            row,
            self.grant_by_instance(instance)?,
            "batch's row of {instance:?}"
        );
        self.pool_view(instance, now, expired_limit)
    }

    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        Ok(ids
            .iter()
            .filter_map(|id| self.state.grants.get(id).cloned())
            .collect())
    }

    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let s = &*self.state;
        Ok(instances
            .iter()
            .filter_map(|i| {
                s.by_instance
                    .get(i)
                    .and_then(|id| s.grants.get(id))
                    .cloned()
            })
            .collect())
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

impl Tx for MemTx<'_> {
    fn now(&mut self) -> Result<UnixMillis, StorageError> {
        Ok(self.now)
    }

    fn lock_pool(&mut self, _pool: &PoolKey) -> Result<(), StorageError> {
        // The store's mutex already serialises every transaction.
        Ok(())
    }

    fn pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError> {
        let pool = instance.pool();
        let mut view = PoolView::from_grants(
            self.state.grants.values().filter(|g| in_pool(g, &pool)),
            instance,
            now,
        );
        // The instance's own expired grant must end in this decision whatever
        // the limit, or the new grant would collide with it.
        view.expired
            .sort_by_key(|g| (&g.instance != instance, g.held_until, g.grant_id));
        let keep = expired_limit.max(usize::from(
            view.expired
                .first()
                .is_some_and(|g| &g.instance == instance),
        ));
        view.expired.truncate(keep);
        Ok(view)
    }

    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError> {
        Ok(self.state.grants.get(&id).cloned())
    }

    fn grant_by_instance(
        &mut self,
        instance: &Instance,
    ) -> Result<Option<HeldGrant>, StorageError> {
        Ok(self
            .state
            .by_instance
            .get(instance)
            .and_then(|id| self.state.grants.get(id))
            .cloned())
    }

    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError> {
        let s = &*self.state;
        Ok(s.ended.get(&id).and_then(|n| {
            let at = s.usage.binary_search_by_key(n, |(m, _)| *m).ok()?;
            s.usage.get(at).map(|(_, u)| u.clone())
        }))
    }

    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError> {
        let s = &mut *self.state;
        match mutation {
            Mutation::Insert(g) => {
                if s.grants.contains_key(&g.grant_id) || s.by_instance.contains_key(&g.instance) {
                    return Err(StorageError::corrupt(format!(
                        "insert of grant {} collides with a held grant",
                        g.grant_id
                    )));
                }
                s.by_instance.insert(g.instance.clone(), g.grant_id);
                s.grants.insert(g.grant_id, g.clone());
                self.undo.push(Undo::Inserted(g.grant_id));
            }
            Mutation::Renew { grant_id, .. } => {
                let g = s.grants.get_mut(grant_id).ok_or_else(|| {
                    StorageError::corrupt(format!("renewal of grant {grant_id} that is not held"))
                })?;
                self.undo.push(Undo::Renewed {
                    id: g.grant_id,
                    last_renewed: g.last_renewed,
                    held_until: g.held_until,
                    client_skew_ms: g.client_skew_ms,
                });
                g.apply_renewal(mutation);
            }
            Mutation::End { grant_id, usage } => {
                let g = s.grants.remove(grant_id).ok_or_else(|| {
                    StorageError::corrupt(format!("end of grant {grant_id} that is not held"))
                })?;
                s.by_instance.remove(&g.instance);
                s.usage_seq += 1;
                let previous_end = s.ended.insert(*grant_id, s.usage_seq);
                let mut usage = usage.clone();
                if usage.license_id.is_none() {
                    usage.license_id = s.license.as_ref().map(|l| l.license_id.clone());
                }
                s.usage.push((s.usage_seq, usage));
                self.undo.push(Undo::Ended {
                    grant: g,
                    previous_end,
                });
            }
        }
        Ok(())
    }

    fn expired(&mut self, now: UnixMillis, limit: usize) -> Result<Vec<HeldGrant>, StorageError> {
        let mut out: Vec<HeldGrant> = self
            .state
            .grants
            .values()
            .filter(|g| !g.is_held_at(now))
            .cloned()
            .collect();
        out.sort_by_key(|g| (g.held_until, g.grant_id));
        out.truncate(limit);
        Ok(out)
    }

    fn held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError> {
        Ok(self
            .state
            .by_instance
            .values()
            .filter_map(|id| self.state.grants.get(id))
            .cloned()
            .collect())
    }

    fn grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .state
            .grants
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, g)| g.clone())
            .collect())
    }

    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<PoolTotalsRow>, StorageError> {
        let mut totals: BTreeMap<PoolKey, PoolTotals> = BTreeMap::new();
        for g in self.state.grants.values().filter(|g| g.is_held_at(now)) {
            totals
                .entry(g.instance.pool())
                .or_default()
                .add(g.facts.cores);
        }
        Ok(totals
            .into_iter()
            .map(|(pool, totals)| PoolTotalsRow { pool, totals })
            .collect())
    }

    fn pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<PoolInGrace>, StorageError> {
        let mut stale: BTreeMap<PoolKey, u64> = BTreeMap::new();
        for g in self
            .state
            .grants
            .values()
            .filter(|g| g.is_held_at(now) && g.last_renewed < stale_before)
        {
            *stale.entry(g.instance.pool()).or_default() += 1;
        }
        Ok(stale
            .into_iter()
            .map(|(pool, in_grace)| PoolInGrace { pool, in_grace })
            .collect())
    }

    fn usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<UsageCursor, UsageRow>>, StorageError> {
        let mut rows: Vec<(UsageCursor, &UsageRow)> = self
            .state
            .usage
            .iter()
            .map(|(id, u)| {
                let id = *id;
                let at = UsageCursor {
                    ended_ms: u.ended_ms,
                    id,
                };
                (at, u)
            })
            .filter(|(at, u)| u.ended_ms >= since.0 && after.is_none_or(|a| *at > a))
            .collect();
        rows.sort_by_key(|(at, _)| *at);
        Ok(rows
            .into_iter()
            .take(limit)
            .map(|(cursor, u)| Keyed {
                cursor,
                row: u.clone(),
            })
            .collect())
    }

    fn append_audit(&mut self, at: UnixMillis, entry: &AuditEntry) -> Result<(), StorageError> {
        self.state.audit_numbered += 1;
        let id = self.state.audit_numbered;
        self.state.audit.insert(id, (at, entry.clone()));
        self.undo.push(Undo::AuditAppended(id));
        Ok(())
    }

    fn audit_page(
        &mut self,
        since: UnixMillis,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        let mut rows = self.audit_cursors(|c| c.at_ms >= since.0 && after.is_none_or(|a| *c > a));
        rows.sort_by_key(|(c, _)| *c);
        Ok(audit_rows(rows, limit))
    }

    fn audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        let mut rows = self.audit_cursors(|c| before.is_none_or(|b| *c < b));
        rows.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
        Ok(audit_rows(rows, limit))
    }

    fn prune_audit(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        let mut old: Vec<(UnixMillis, i64)> = (self.state.audit.iter())
            .filter(|(_, (at, _))| *at < before)
            .map(|(id, (at, _))| (*at, *id))
            .collect();
        old.sort_unstable();
        old.truncate(limit);
        let gone: Vec<_> = (old.iter())
            .filter_map(|(_, id)| self.state.audit.remove_entry(id))
            .collect();
        let n = gone.len();
        self.undo.push(Undo::AuditPruned(gone));
        Ok(n)
    }

    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError> {
        Ok(self.state.license.clone())
    }

    fn license_stamp(&mut self) -> Result<Option<LicenseStamp>, StorageError> {
        Ok(self.state.license.as_ref().map(|l| LicenseStamp {
            license_id: l.license_id.clone(),
            issued_at: l.issued_at,
        }))
    }

    fn put_license(&mut self, license: &StoredLicense) -> Result<(), StorageError> {
        let old = self.state.license.replace(license.clone());
        self.undo.push(Undo::License(old));
        Ok(())
    }

    fn managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError> {
        Ok(self.state.managers.values().cloned().collect())
    }

    fn put_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError> {
        // A heartbeat rewrites its own row: the key is there already.
        let old = match self.state.managers.get_mut(&record.node_id) {
            Some(row) => Some(std::mem::replace(row, record.clone())),
            None => self
                .state
                .managers
                .insert(record.node_id.clone(), record.clone()),
        };
        self.undo.push(Undo::Manager(record.node_id.clone(), old));
        Ok(())
    }

    fn delete_manager(&mut self, node_id: &str) -> Result<(), StorageError> {
        let old = self.state.managers.remove(node_id);
        self.undo.push(Undo::Manager(node_id.to_owned(), old));
        Ok(())
    }

    fn stored_clock(&mut self, now: UnixMillis) -> Result<StoredClock, StorageError> {
        Ok(StoredClock {
            forward_ms: open_forward_ms(&self.state.clock_steps, now),
            high_water: self.state.high_water,
            last_step: i64::try_from(self.state.clock_steps.len()).unwrap_or(i64::MAX),
        })
    }

    fn clock_steps_since(&mut self, after: i64, excluding: &str) -> Result<i64, StorageError> {
        Ok(recorded_since(&self.state.clock_steps, after, excluding))
    }

    fn record_clock_step(&mut self, step: &RecordedStep) -> Result<(), StorageError> {
        // Steps are rare and few: keeping the whole list is the simplest undo.
        self.undo
            .push(Undo::ClockSteps(self.state.clock_steps.clone()));
        record_step(&mut self.state.clock_steps, step.clone());
        Ok(())
    }

    fn clock_steps(&mut self) -> Result<StepSummary, StorageError> {
        Ok(StepSummary {
            count: u64::try_from(self.state.clock_steps.len()).unwrap_or(u64::MAX),
            last: self.state.clock_steps.last().cloned(),
        })
    }

    fn recent_clock_steps(&mut self) -> Result<Vec<RecordedStep>, StorageError> {
        let steps = &self.state.clock_steps;
        Ok(steps[steps.len().saturating_sub(RECENT_STEPS)..].to_vec())
    }

    fn raise_high_water(&mut self, at: UnixMillis) -> Result<(), StorageError> {
        if self.state.high_water.is_none_or(|h| h < at) {
            let old = self.state.high_water.replace(at);
            self.undo.push(Undo::HighWater(old));
        }
        Ok(())
    }

    fn latest_deadline(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        Ok(self.state.grants.values().map(|g| g.held_until).max())
    }

    fn lock_registry(&mut self) -> Result<(), StorageError> {
        // The store's mutex already serialises every transaction.
        Ok(())
    }

    fn usage_overlapping(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UsageRow>, StorageError> {
        Ok(self
            .state
            .usage
            .iter()
            .filter(|(_, u)| u.first_request_ms < to.0 && u.ended_ms >= from.0)
            .map(|(_, u)| u.clone())
            .collect())
    }

    fn first_usage(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        let s = &*self.state;
        let ended = s.usage.iter().map(|(_, u)| u.first_request_ms);
        let held = s.grants.values().map(|g| g.granted_at.0);
        Ok(ended.chain(held).min().map(UnixMillis))
    }

    fn lock_rollup(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        // The store's mutex already serialises every transaction.
        Ok(self.state.rollup_mark)
    }

    fn rollup_watermark(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        Ok(self.state.rollup_mark)
    }

    fn put_rollups(&mut self, days: &[DayFigures], last: UnixMillis) -> Result<(), StorageError> {
        let s = &mut *self.state;
        let mut keys = Vec::with_capacity(days.len());
        for d in days {
            let key = (d.day_ms, d.pool.clone());
            if s.rollups.contains_key(&key) {
                self.undo.push(Undo::Rollups(keys, s.rollup_mark));
                // Nothing here was read from outside: the caller broke the
                // port's rule that a day is rolled up once.
                return Err(StorageError::internal(format!(
                    "usage_daily: day {} of {}/{} is rolled up already",
                    d.day_ms, d.pool.environment, d.pool.product
                )));
            }
            s.rollups.insert(key.clone(), d.clone());
            keys.push(key);
        }
        self.undo.push(Undo::Rollups(keys, s.rollup_mark));
        s.rollup_mark = Some(last);
        Ok(())
    }

    fn rollups_between(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DayFigures>, StorageError> {
        Ok(self
            .state
            .rollups
            .values()
            .filter(|d| (from.0..to.0).contains(&d.day_ms))
            .cloned()
            .collect())
    }

    fn prune_usage(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        let s = &mut *self.state;
        let mut old: Vec<(i64, i64)> = s
            .usage
            .iter()
            .filter(|(_, u)| u.ended_ms < before.0)
            .map(|(n, u)| (u.ended_ms, *n))
            .collect();
        old.sort_unstable();
        old.truncate(limit);
        let mut gone: Vec<i64> = old.into_iter().map(|(_, n)| n).collect();
        gone.sort_unstable();
        let (mut pruned, mut kept) = (Vec::new(), Vec::with_capacity(s.usage.len()));
        for row in std::mem::take(&mut s.usage) {
            if gone.binary_search(&row.0).is_ok() {
                pruned.push(row);
            } else {
                kept.push(row);
            }
        }
        s.usage = kept;
        let mut unlinked = Vec::new();
        s.ended.retain(|id, n| {
            let keep = gone.binary_search(n).is_err();
            if !keep {
                unlinked.push((*id, *n));
            }
            keep
        });
        let count = pruned.len();
        self.undo.push(Undo::Pruned(pruned, unlinked));
        Ok(count)
    }
}

impl MemTx<'_> {
    /// The audit entries whose cursor `keep` accepts, in no order.
    fn audit_cursors(
        &self,
        keep: impl Fn(&AuditCursor) -> bool,
    ) -> Vec<(AuditCursor, &AuditEntry)> {
        (self.state.audit.iter())
            .map(|(id, (at, e))| {
                let c = AuditCursor {
                    at_ms: at.0,
                    id: *id,
                };
                (c, e)
            })
            .filter(|(c, _)| keep(c))
            .collect()
    }
}

/// The first `limit` of `rows`, already in page order, as rows.
fn audit_rows(
    mut rows: Vec<(AuditCursor, &AuditEntry)>,
    limit: usize,
) -> Vec<Keyed<AuditCursor, AuditRow>> {
    rows.truncate(limit);
    rows.into_iter()
        .map(|(cursor, e)| Keyed {
            cursor,
            row: AuditRow::new(UnixMillis(cursor.at_ms), e.clone()),
        })
        .collect()
}
