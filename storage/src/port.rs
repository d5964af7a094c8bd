//! The storage port: what a manager needs from its database, one transaction
//! at a time. Two implementations: [`crate::memory::MemoryStore`] (the reference
//! semantics) and the diesel store (SQLite, PostgreSQL, MySQL).

use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView};
use tenure_core::wire::{EndReason, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

/// A storage failure. Every variant is retryable from the caller's point of
/// view except `Schema`, which needs an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or dropped the connection; the pool
    /// reconnects by itself. Maps to 503 `storage_unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Serialization failure or deadlock that survived the bounded retries.
    #[error("storage conflict after retries: {0}")]
    Conflict(String),
    /// The schema is newer than this binary, or older and not migrated.
    #[error("schema: {0}")]
    Schema(String),
    /// A row that cannot be decoded (corrupt or written by a newer version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The installed license as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLicense {
    pub license_id: String,
    pub issued_at: UnixMillis,
    /// The armoured text exactly as installed; verified again on load.
    pub armoured: String,
    pub installed_at: UnixMillis,
}

/// What [`Tx::now_and_license_stamp`] reads: the storage clock, and the
/// installed license's id and issue time (`None` without a license).
pub type NowAndStamp = (UnixMillis, Option<(String, UnixMillis)>);

/// What [`Tx::grants_and_now`] reads: the grants, the storage clock and the
/// license stamp.
pub type GrantsAndNow = (Vec<HeldGrant>, UnixMillis, Option<(String, UnixMillis)>);

/// One database transaction. Methods read and write within it; nothing is
/// visible to others until [`Store::transaction`] commits.
pub trait Tx {
    /// The storage clock (T3): the database's own `now` for shared databases,
    /// the local clock for embedded SQLite.
    fn now(&mut self) -> Result<UnixMillis, StorageError>;

    /// True when this transaction already shuts out every other writer from
    /// its start (the memory store's mutex, SQLite's `BEGIN IMMEDIATE`), so
    /// what it read before [`Tx::lock_pool`] cannot have changed since.
    fn excludes_other_writers(&self) -> bool {
        false
    }

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

    /// [`Tx::pool_view`] when the caller already knows the pool's held
    /// totals at `now` (a batch counts each pool once, then keeps count), so
    /// storage need not count them again.
    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError> {
        let mut view = self.pool_view(instance, now, expired_limit)?;
        view.held = held;
        Ok(view)
    }

    /// [`Tx::pool_view`] when the caller has read `instance`'s grants row
    /// already (`row`, `None` when it has none), so storage need not read it
    /// again.
    fn pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError> {
        let _ = row;
        self.pool_view(instance, now, expired_limit)
    }

    fn grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError>;
    /// The held grants among `ids`, in no particular order; ids not held are
    /// left out. One round trip where the backend allows it.
    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.grant(*id)?);
        }
        Ok(out)
    }
    fn grant_by_instance(&mut self, instance: &Instance)
    -> Result<Option<HeldGrant>, StorageError>;
    /// The grants rows (held or past their deadline) of any of `instances`,
    /// in no particular order; instances without one are left out. One round
    /// trip per pool where the backend allows it.
    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let mut out = Vec::with_capacity(instances.len());
        for instance in instances {
            out.extend(self.grant_by_instance(instance)?);
        }
        Ok(out)
    }
    /// The usage row a grant left when it ended, if it has ended: a renewal
    /// of it answers from its end reason and instance (M3: `replaced` names
    /// the instance).
    fn ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError>;
    /// The end reason of a grant that has left a usage row, if any.
    fn end_reason(&mut self, id: GrantId) -> Result<Option<EndReason>, StorageError> {
        Ok(self.ended(id)?.map(|u| u.end_reason))
    }
    fn apply(&mut self, mutation: &Mutation) -> Result<(), StorageError>;
    /// Applies `Mutation::Renew`s of distinct held grants (any other kind is
    /// applied one by one). One statement where the backend allows it.
    fn apply_renewals(&mut self, renewals: &[Mutation]) -> Result<(), StorageError> {
        for m in renewals {
            self.apply(m)?;
        }
        Ok(())
    }

    /// Applies `Mutation::Insert`s of distinct new grants (any other kind is
    /// applied one by one). One statement, and one pool count per pool, where
    /// the backend allows it.
    fn apply_inserts(&mut self, inserts: &[Mutation]) -> Result<(), StorageError> {
        for m in inserts {
            self.apply(m)?;
        }
        Ok(())
    }

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
    fn pool_totals(&mut self, now: UnixMillis) -> Result<Vec<(PoolKey, PoolTotals)>, StorageError>;
    /// Usage rows that ended at or after `since`, oldest first, at most `limit`.
    fn usage_since(
        &mut self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<UsageRow>, StorageError>;

    fn license(&mut self) -> Result<Option<StoredLicense>, StorageError>;
    /// `(license_id, issued_at)` of the installed license: enough to tell
    /// whether a verified copy is still current without reading its text.
    fn license_stamp(&mut self) -> Result<Option<(String, UnixMillis)>, StorageError> {
        Ok(self.license()?.map(|l| (l.license_id, l.issued_at)))
    }
    /// [`Tx::now`] and [`Tx::license_stamp`] together: one round trip
    /// where the backend allows it.
    fn now_and_license_stamp(&mut self) -> Result<NowAndStamp, StorageError> {
        Ok((self.now()?, self.license_stamp()?))
    }
    /// [`Tx::grants`] of `ids`, then [`Tx::now_and_license_stamp`]: one
    /// round trip where the backend allows it. Like the clock alone, the
    /// clock is read after every lock the transaction holds.
    fn grants_and_now(&mut self, ids: &[GrantId]) -> Result<GrantsAndNow, StorageError> {
        let grants = self.grants(ids)?;
        let (now, stamp) = self.now_and_license_stamp()?;
        Ok((grants, now, stamp))
    }
    fn put_license(&mut self, license: &StoredLicense) -> Result<(), StorageError>;

    fn managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError>;
    fn put_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError>;
    fn delete_manager(&mut self, node_id: &str) -> Result<(), StorageError>;
}

/// A database. `transaction` runs `f` in one transaction and commits when it
/// returns `Ok`; it retries `f` a bounded number of times on serialization
/// failures and deadlocks, so `f` must be safe to run again.
pub trait Store: Send + Sync {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError>;
}
