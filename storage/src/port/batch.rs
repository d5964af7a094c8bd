//! What a batch of component requests (`crate::batch`) needs beyond [`Tx`]:
//! reads and writes of many grants at once, and reads that skip what the
//! batch already knows. Each could be written with [`Tx`] alone; a store
//! implements them to take fewer round trips, or says why it need not.

use super::{NowAndStamp, StorageError, Tx};
use tenure_core::GrantId;
use tenure_core::UnixMillis;
use tenure_core::manager::{HeldGrant, Mutation, PoolTotals, PoolView};
use tenure_core::wire::Instance;

/// What [`BatchTx::grants_and_now`] reads: the grants, then the clock and
/// stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantsAndNow {
    /// The held grants among the ids asked for, in no particular order.
    pub grants: Vec<HeldGrant>,
    /// Read after the grants, at one instant.
    pub read: NowAndStamp,
}

/// One database transaction, as a batch uses it.
pub trait BatchTx: Tx {
    /// True when this transaction already shuts out every other writer from
    /// its start (the memory store's mutex, SQLite's `BEGIN IMMEDIATE`), so
    /// what it read before [`Tx::lock_pool`] cannot have changed since.
    fn excludes_other_writers(&self) -> bool;

    /// [`Tx::pool_view`] when the caller already knows the pool's held
    /// totals at `now` (a batch counts each pool once, then keeps count), so
    /// storage need not count them again.
    fn pool_view_counted(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        held: PoolTotals,
    ) -> Result<PoolView, StorageError>;

    /// [`Tx::pool_view`] when the caller has read `instance`'s grants row
    /// already in this transaction (`row`, `None` when it has none), so
    /// storage need not read it again.
    fn pool_view_with_row(
        &mut self,
        instance: &Instance,
        now: UnixMillis,
        expired_limit: usize,
        row: Option<HeldGrant>,
    ) -> Result<PoolView, StorageError>;

    /// The held grants among `ids`, in no particular order; ids not held are
    /// left out.
    fn grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError>;

    /// The grants rows (held or past their deadline) of any of `instances`,
    /// in no particular order; instances without one are left out.
    fn grants_by_instance(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError>;

    /// [`BatchTx::grants`] of `ids`, then [`Tx::now_and_license_stamp`].
    /// Like the clock alone, the clock is read after every lock the
    /// transaction holds.
    fn grants_and_now(&mut self, ids: &[GrantId]) -> Result<GrantsAndNow, StorageError>;

    /// Applies `Mutation::Renew`s of distinct held grants (any other kind is
    /// applied one by one).
    fn apply_renewals(&mut self, renewals: &[Mutation]) -> Result<(), StorageError>;

    /// Applies `Mutation::Insert`s of distinct new grants (any other kind is
    /// applied one by one).
    fn apply_inserts(&mut self, inserts: &[Mutation]) -> Result<(), StorageError>;
}

/// [`BatchTx::grants_and_now`] the plain way any store can answer it: the
/// grants, then the clock and stamp, each read on its own. A store for which
/// a round trip costs nothing, or one that must route every read through its
/// own methods, answers with this.
pub fn grants_then_now<T: BatchTx + ?Sized>(
    tx: &mut T,
    ids: &[GrantId],
) -> Result<GrantsAndNow, StorageError> {
    let grants = tx.grants(ids)?;
    Ok(GrantsAndNow {
        grants,
        read: tx.now_and_license_stamp()?,
    })
}

/// [`BatchTx::apply_renewals`] and [`BatchTx::apply_inserts`] the plain way
/// any store can answer them: each mutation through [`Tx::apply`], in order,
/// stopping at the first error.
pub fn apply_each<T: Tx + ?Sized>(tx: &mut T, mutations: &[Mutation]) -> Result<(), StorageError> {
    mutations.iter().try_for_each(|m| tx.apply(m))
}
