//! [`Tx`] and [`BatchTx`] over [`DieselTx`]: each method hands over to the
//! module that holds its statements.

use super::DieselTx;
use crate::port::{
    AuditCursor, BatchTx, GrantsAndNow, Keyed, LicenseStamp, NowAndStamp, PoolInGrace,
    PoolTotalsRow, StepSummary, StorageError, StoredLicense, Tx, UsageCursor,
};
use crate::sql::connection::Backend;
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView, RecordedStep, StoredClock};
use tenure_core::report::DayFigures;
use tenure_core::wire::{AuditEntry, AuditRow, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

impl Tx for DieselTx<'_> {
    fn now(&mut self) -> Result<UnixMillis, StorageError> {
        self.read_now()
    }

    fn now_and_license_stamp(&mut self) -> Result<NowAndStamp, StorageError> {
        self.read_now_and_stamp()
    }

    fn lock_pool(&mut self, pool: &PoolKey) -> Result<(), StorageError> {
        self.lock_pool_row(pool)
    }

    fn pool_view(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
    ) -> Result<PoolView, StorageError> {
        self.read_pool_view(instance, now, expired_limit)
    }

    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError> {
        self.read_grant(id)
    }

    fn grant_by_instance(
        &mut self,
        instance: &Instance,
    ) -> Result<Option<HeldGrant>, StorageError> {
        self.read_grant_by_instance(instance)
    }

    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError> {
        self.read_ended(id)
    }

    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError> {
        self.apply_mutation(mutation)
    }

    fn expired(&mut self, now: UnixMillis, limit: usize) -> Result<Vec<HeldGrant>, StorageError> {
        self.read_expired(now, limit)
    }

    fn held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError> {
        self.read_held_grants()
    }

    fn grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        self.read_grants_after(after, limit)
    }

    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<PoolTotalsRow>, StorageError> {
        self.read_pool_totals(now)
    }

    fn pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<PoolInGrace>, StorageError> {
        self.read_pool_in_grace(now, stale_before)
    }

    fn usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<UsageCursor, UsageRow>>, StorageError> {
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
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        self.read_audit_page(since, after, limit)
    }

    fn audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        self.read_audit_page_newest(before, limit)
    }

    fn prune_audit(&mut self, before: UnixMillis, limit: usize) -> Result<usize, StorageError> {
        self.delete_audit_before(before, limit)
    }

    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError> {
        self.read_license()
    }

    fn license_stamp(&mut self) -> Result<Option<LicenseStamp>, StorageError> {
        self.read_license_stamp()
    }

    fn put_license(&mut self, stored: &StoredLicense) -> Result<(), StorageError> {
        self.write_license(stored)
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

    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        self.rows_of_instances(instances)
    }

    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        self.read_pool_view_counted(instance, now, expired_limit, held)
    }

    fn pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError> {
        self.read_pool_view_with_row(instance, now, expired_limit, row)
    }

    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        self.read_grants(ids)
    }

    fn grants_and_now(&mut self, ids: &[GrantId]) -> Result<GrantsAndNow, StorageError> {
        self.read_grants_and_now(ids)
    }

    fn apply_renewals(&mut self, renewals: &[Mutation]) -> Result<(), StorageError> {
        self.apply_renewal_batch(renewals)
    }

    fn apply_inserts(&mut self, inserts: &[Mutation]) -> Result<(), StorageError> {
        self.apply_insert_batch(inserts)
    }
}
