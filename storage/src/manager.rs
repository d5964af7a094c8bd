//! `Manager<S>`: each request is one storage transaction around one core
//! decision. The transaction reads the storage clock (T3), serialises the pool
//! (M1, M5), decides, applies the mutations and commits before the caller
//! answers (M4).

use crate::batch::{Answer, Op, OpResult};
use crate::clock::{Claims, ClockKeeper, MonoClock};
use crate::group::GroupCommit;
use crate::pools_of::PoolsOf;
use crate::port::{
    BatchTx, LicenseStamp, NowAndStamp, StepSummary, StorageError, StorageErrorKind, Store,
    StoredLicense, Tx,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenure_core::health::{self, LicenseState, ManagerRecord, NotServing};
use tenure_core::license::{self, License, LicenseError, Validity, VerifyingKey};
use tenure_core::manager::{self as decide, Decision, Denial, Instants, ManagerConfig, Step};
use tenure_core::row_ages::{self, RowAges};
use tenure_core::wire::{GrantRequest, GrantResponse, Instance};
use tenure_core::{ErrorCode, GrantId, UnixMillis};

pub(crate) mod audit;
pub use audit::Actor;
use audit::EntryFor;

/// Expired grants reclaimed in passing by one grant decision; the periodic
/// sweep takes the rest.
pub(crate) const EXPIRED_PER_DECISION: usize = 64;

/// Why a manager call did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Denied(#[from] Denial),
    #[error("no license is installed in storage")]
    NoLicense,
    #[error("the license in storage does not verify: {0}")]
    BadStoredLicense(LicenseError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The manager broke one of its own rules: a fault in this binary, not in
    /// the request or in storage.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ManagerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Denied(d) => d.code(),
            Self::Internal(_) => ErrorCode::Internal,
            Self::Storage(e) if e.kind() == StorageErrorKind::Internal => ErrorCode::Internal,
            // Retryable: the other manager may have a license, or an operator
            // is installing one. A component keeps counting grace meanwhile.
            Self::NoLicense | Self::BadStoredLicense(_) | Self::Storage(_) => {
                ErrorCode::StorageUnavailable
            }
        }
    }
}

/// What installing a license did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Storage had none, or an older one (by `issued_at`), or `Replace` asked.
    Installed { license_id: String },
    /// Storage already had this one or a newer one; it stays.
    KeptStored { license_id: String },
}

/// When a license offered to [`Manager::install_license`] replaces the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallPolicy {
    /// `tenured serve --license`: only when storage has none or an older one.
    IfNewer,
    /// `PUT /v1/license`: an operator's explicit choice.
    Replace,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Invalid(#[from] LicenseError),
    #[error("license is not usable now: {0}")]
    NotUsable(Validity),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a heartbeat found: whether this manager may serve, and the offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub storage_now: UnixMillis,
    pub serving: Result<(), NotServing>,
    pub license_id: Option<String>,
    pub managers: Vec<ManagerRecord>,
    /// Storage clock minus this manager's clock (T4).
    pub clock_offset_ms: i64,
    pub clock: ClockReport,
}

/// What a heartbeat found of storage clock steps (M9, T3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockReport {
    /// How far deadlines are held back now for forward steps, in ms.
    pub correction_ms: i64,
    /// The latest storage instant a manager recorded (T3).
    pub high_water: Option<UnixMillis>,
    /// Steps recorded in storage, by any manager.
    pub recorded: StepSummary,
    /// Steps this manager found since it started, and the latest.
    pub seen: u64,
    pub last_seen: Option<Step>,
}

type CachedLicense = Option<(String, UnixMillis, Arc<License>)>;

pub struct Manager<S> {
    store: S,
    config: ManagerConfig,
    trusted: Vec<VerifyingKey>,
    /// Verifying a signature on every request would dominate a renewal; the
    /// stored license is re-verified only when its (id, issued_at) changes.
    cache: Mutex<CachedLicense>,
    /// When set, concurrent component requests share transactions.
    group: Option<GroupCommit<Op, OpResult>>,
    pub(crate) pools_of: PoolsOf,
    pub(crate) clock: ClockKeeper,
    /// This process's random nonce in the managers registry (M6).
    instance: Option<String>,
    /// Registry rows stamped before a backward storage clock step (M6, M9).
    row_ages: Mutex<RowAges>,
}

impl<S> std::fmt::Debug for Manager<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A transaction body's result: storage errors abort (and may retry) the
/// transaction; decisions ride inside `Ok` so their mutations commit.
type TxResult<T> = Result<Result<T, ManagerError>, StorageError>;

impl<S: Store> Manager<S> {
    pub fn new(store: S, config: ManagerConfig, trusted: Vec<VerifyingKey>) -> Self {
        Self {
            store,
            config,
            trusted,
            cache: Mutex::new(None),
            group: None,
            pools_of: PoolsOf::default(),
            clock: ClockKeeper::default(),
            instance: None,
            row_ages: Mutex::default(),
        }
    }

    /// Watches the storage clock for steps (M9) against `mono`, a monotonic
    /// clock that counts suspend. Without it no step is found (steps other
    /// managers recorded still count): every manager that serves should have
    /// one; tests and the simulator give theirs.
    pub fn with_monotonic(mut self, mono: MonoClock) -> Self {
        self.clock = ClockKeeper::new(Some(mono));
        self
    }

    /// Registers this process under `nonce` (M6): a second process that
    /// heartbeats with the same node id and another nonce while this one is
    /// live does not serve. Give each process a fresh random one. Without
    /// one, rows without a nonce count as this process.
    pub fn with_instance(mut self, nonce: impl Into<String>) -> Self {
        self.instance = Some(nonce.into());
        self
    }

    /// Grants, renewals and releases that arrive while a transaction is
    /// committing wait and share the next one, up to `max_batch` of them:
    /// one durable commit for many requests, each answered after it. For
    /// callers on many threads; a single-threaded caller gains nothing.
    pub fn with_group_commit(mut self, max_batch: usize) -> Self {
        self.group = Some(GroupCommit::new(max_batch));
        self
    }

    /// The largest batch, if group commit is on.
    pub fn group_commit(&self) -> Option<usize> {
        self.group.as_ref().map(GroupCommit::max_batch)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The vendor keys licenses must verify with (the console checks an
    /// uploaded license with them before it offers to install it).
    pub fn trusted_keys(&self) -> &[VerifyingKey] {
        &self.trusted
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    fn run<T>(&self, mut body: impl FnMut(&mut dyn Tx) -> TxResult<T>) -> Result<T, ManagerError> {
        self.store.transaction(&mut |tx| body(tx))?
    }

    /// One transaction whose attempts may record clock steps: once it ends,
    /// the watch learns whether storage has them.
    pub(crate) fn transact<T>(
        &self,
        body: &mut dyn FnMut(&mut dyn BatchTx, &mut Claims) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut claims = Claims::default();
        let out = self.store.transaction(&mut |tx| {
            claims.restart();
            body(tx, &mut claims)
        });
        self.clock.settle(&claims, out.is_ok());
        out
    }

    /// Reads the storage clock and license stamp and gives the instants to
    /// decide at (T3, M9), recording a step the watch finds.
    pub(crate) fn clock_read(
        &self,
        tx: &mut dyn Tx,
        claims: &mut Claims,
    ) -> Result<(NowAndStamp, Instants), StorageError> {
        let before = self.clock.mono();
        let read = tx.now_and_license_stamp()?;
        let at = self.clock.instants(tx, claims, &read, before)?;
        Ok((read, at))
    }

    pub(crate) fn load_license(&self, tx: &mut dyn Tx) -> TxResult<Arc<License>> {
        let stamp = tx.license_stamp()?;
        self.license_of(tx, stamp)
    }

    /// The verified license whose stamp storage holds: the cached copy while
    /// the stamp is unchanged, else read and verified again.
    pub(crate) fn license_of(
        &self,
        tx: &mut dyn Tx,
        stamp: Option<LicenseStamp>,
    ) -> TxResult<Arc<License>> {
        let Some(stamp) = stamp else {
            return Ok(Err(ManagerError::NoLicense));
        };
        if let Some(lic) = self.cached(&stamp.license_id, stamp.issued_at) {
            return Ok(Ok(lic));
        }
        let Some(stored) = tx.license()? else {
            return Ok(Err(ManagerError::NoLicense));
        };
        Ok(self.verified(&stored))
    }

    fn cached(&self, id: &str, issued: UnixMillis) -> Option<Arc<License>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.as_ref() {
            Some((cid, cissued, lic)) if cid == id && *cissued == issued => Some(lic.clone()),
            _ => None,
        }
    }

    fn verified(&self, stored: &StoredLicense) -> Result<Arc<License>, ManagerError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, issued, lic)) = cache.as_ref()
            && *id == stored.license_id
            && *issued == stored.issued_at
        {
            return Ok(lic.clone());
        }
        let verified = license::verify(&stored.armoured, &self.trusted)
            .map_err(ManagerError::BadStoredLicense)?;
        let lic = Arc::new(verified.into_license());
        *cache = Some((stored.license_id.clone(), stored.issued_at, lic.clone()));
        Ok(lic)
    }

    fn commit<T>(tx: &mut dyn Tx, d: Decision<T>) -> TxResult<T> {
        for m in &d.mutations {
            tx.apply(m)?;
        }
        Ok(d.outcome.map_err(ManagerError::Denied))
    }

    /// Runs one op, in a shared batch when group commit is on.
    fn one(&self, op: Op) -> OpResult {
        match &self.group {
            None => self
                .run_batch(std::slice::from_ref(&op))
                .pop()
                .unwrap_or_else(|| Err(lost())),
            Some(group) => group
                .submit(op, &|ops| self.run_batch(&ops))
                .unwrap_or_else(|_abandoned| Err(lost())),
        }
    }

    /// `POST /v1/grants` (M1, M3, M7). `random` must be 16 bytes from a CSPRNG.
    pub fn grant(
        &self,
        req: &GrantRequest,
        random: [u8; 16],
    ) -> Result<GrantResponse, ManagerError> {
        let id = GrantId::from_random(random);
        match self.one(Op::Grant {
            req: req.clone(),
            id,
        })? {
            Answer::Granted(r) => Ok(r),
            other => Err(mismatch(&other)),
        }
    }

    /// `POST /v1/grants/{id}/renew`.
    pub fn renew(
        &self,
        id: GrantId,
        client_time: Option<UnixMillis>,
    ) -> Result<GrantResponse, ManagerError> {
        match self.one(Op::Renew { id, client_time })? {
            Answer::Renewed(r) => Ok(r),
            other => Err(mismatch(&other)),
        }
    }

    fn end_one(
        &self,
        find: impl Fn(&mut dyn Tx) -> Result<Option<decide::HeldGrant>, StorageError>,
        decide_fn: fn(Option<&decide::HeldGrant>, Instants) -> Decision<()>,
        audit: Option<&EntryFor<'_>>,
    ) -> Result<(), ManagerError> {
        self.transact(&mut |tx, claims| {
            let held = match find(tx)? {
                Some(g) => {
                    tx.lock_pool(&g.instance.pool())?;
                    find(tx)?
                }
                None => None,
            };
            let (read, at) = self.clock_read(tx, claims)?;
            let out = Self::commit(tx, decide_fn(held.as_ref(), at))?;
            // In this transaction: the row exists exactly if the action does.
            if let Some(entry) = audit {
                tx.append_audit(read.now, &entry(&out))?;
            }
            Ok(out)
        })?
    }

    /// `DELETE /v1/grants/{id}`: a component's clean stop.
    pub fn release(&self, id: GrantId) -> Result<(), ManagerError> {
        match self.one(Op::Release(id))? {
            Answer::Released => Ok(()),
            other => Err(mismatch(&other)),
        }
    }

    /// `DELETE /v1/admin/grants/{id}`, unaudited: the admin routes call
    /// [`Manager::revoke_by`].
    pub fn revoke(&self, id: GrantId) -> Result<(), ManagerError> {
        self.end_one(|tx| tx.grant(id), decide::revoke, None)
    }

    /// `POST /v1/admin/release`: free the slot of a crashed server.
    /// Unaudited: the admin routes call [`Manager::admin_release_by`].
    pub fn admin_release(&self, instance: &Instance) -> Result<(), ManagerError> {
        self.end_one(
            |tx| tx.grant_by_instance(instance),
            decide::admin_release,
            None,
        )
    }

    /// The periodic sweep: ends grants past their deadline (never earlier),
    /// at most `limit` per call. Returns how many it ended.
    pub fn sweep(&self, limit: usize) -> Result<usize, ManagerError> {
        let ended = self.transact(&mut |tx, claims| {
            let (_, at) = self.clock_read(tx, claims)?;
            let mut expired = tx.expired(at.deadlines, limit)?;
            // Locking pools in one global order keeps two sweeps from deadlocking.
            expired.sort_by_key(|g| g.instance.pool());
            let mut ended = 0;
            for g in expired {
                tx.lock_pool(&g.instance.pool())?;
                if let Some(fresh) = tx.grant(g.grant_id)? {
                    for m in decide::reclaim([&fresh], at) {
                        tx.apply(&m)?;
                        ended += 1;
                    }
                }
            }
            Ok(ended)
        })?;
        Ok(ended)
    }

    /// Verifies `text` and installs it by `policy`. An invalid license never
    /// reaches storage, so the old one stays. Unaudited (`tenured serve
    /// --license` at start): the admin routes call
    /// [`Manager::install_license_by`].
    pub fn install_license(
        &self,
        text: &str,
        policy: InstallPolicy,
    ) -> Result<Installed, InstallError> {
        self.install(text, policy, None)
    }

    /// [`Manager::install_license`], recording the outcome in the audit
    /// trail for `actor` in the same transaction when one is given.
    fn install(
        &self,
        text: &str,
        policy: InstallPolicy,
        actor: Option<Actor<'_>>,
    ) -> Result<Installed, InstallError> {
        let verified = match license::verify(text, &self.trusted) {
            Ok(v) => v,
            Err(e) => {
                if let Some(actor) = actor {
                    self.record(&audit::refused_license(actor, &e));
                }
                return Err(e.into());
            }
        };
        let offered = &verified.license().license_id;
        let out = self.transact(&mut |tx, claims| {
            let (read, at) = self.clock_read(tx, claims)?;
            let out = Self::install_in(tx, &verified, policy, read.now, at)?;
            if let Some(actor) = actor {
                tx.append_audit(read.now, &audit::installed(actor, offered, &out))?;
            }
            Ok(out)
        })?;
        out.map_err(InstallError::NotUsable)
    }

    /// The install decision and write, inside the caller's transaction.
    fn install_in(
        tx: &mut dyn Tx,
        verified: &license::VerifiedLicense,
        policy: InstallPolicy,
        now: UnixMillis,
        at: Instants,
    ) -> Result<Result<Installed, Validity>, StorageError> {
        let lic = verified.license();
        if policy == InstallPolicy::Replace
            && let Err(v) = lic.validity_at(at.license)
        {
            return Ok(Err(v));
        }
        let stored = tx.license()?;
        let newer = match &stored {
            None => true,
            Some(s) => policy == InstallPolicy::Replace || lic.issued_at > s.issued_at,
        };
        if !newer {
            let id = stored.map(|s| s.license_id).unwrap_or_default();
            return Ok(Ok(Installed::KeptStored { license_id: id }));
        }
        tx.put_license(&StoredLicense {
            license_id: lic.license_id.clone(),
            issued_at: lic.issued_at,
            armoured: verified.armoured().to_owned(),
            installed_at: now,
        })?;
        Ok(Ok(Installed::Installed {
            license_id: lic.license_id.clone(),
        }))
    }

    /// The license in storage, verified.
    pub fn license(&self) -> Result<Arc<License>, ManagerError> {
        self.run(|tx| self.load_license(tx))
    }

    /// Registers `node_id` and decides whether it may serve (M6, T4).
    /// `local_clock` is this manager's own clock, read around the storage
    /// clock to measure the offset.
    /// Registration and its check are serialised in storage, so two
    /// managers starting at once never both count only themselves.
    pub fn heartbeat(
        &self,
        node_id: &str,
        local_clock: &dyn Fn() -> UnixMillis,
        liveness: Duration,
    ) -> Result<Heartbeat, StorageError> {
        self.clock.set_node(node_id, self.instance.as_deref());
        let started = self.clock.mono();
        let hb = self.transact(&mut |tx, claims| {
            tx.lock_registry()?;
            let before = local_clock();
            let (read, at) = self.clock_read(tx, claims)?;
            let after = local_clock();
            let now = read.now;
            let offset = health::clock_offset_ms(before, now, after);
            let stored = tx.managers()?;
            // Kept apart only while a forward step holds deadlines back: the
            // views get the rows as stored (below).
            let (mut records, stored) = if at.deadlines < now {
                let steps = tx.recent_clock_steps()?;
                (
                    row_ages::forward_corrected(&stored, &steps, now),
                    Some(stored),
                )
            } else {
                (stored, None)
            };
            if let Some(mono) = self.clock.mono() {
                let mut ages = self.row_ages.lock().unwrap_or_else(|e| e.into_inner());
                records = ages.judged(
                    (node_id, self.instance.as_deref()),
                    records,
                    at.deadlines,
                    mono,
                );
            }
            // The views read rows at the storage clock: they get the stamps
            // as stored, but a row stamped ahead as it was aged. Without a
            // forward step that is `records` itself: the deadline instant is
            // then at or after the storage clock, so a row aged for being
            // ahead of it is ahead of the storage clock too.
            let mut shown: Option<Vec<ManagerRecord>> = stored.map(|stored| {
                stored
                    .into_iter()
                    .zip(&records)
                    .map(|(s, r)| {
                        if row_ages::is_ahead(&s, now) {
                            r.clone()
                        } else {
                            s
                        }
                    })
                    .collect()
            });
            // M6 under M9: liveness is judged at the deadline instant, so a
            // storage clock stepped forward does not make a live peer look
            // dead (two managers serving one slot); rows keep the storage
            // clock as read, so nothing jumps when the step closes; a row
            // stamped after the step was seen is judged without its size
            // (`forward_corrected`, read before this point), else a dead
            // peer would hold its place for as long as the step. An error,
            // or an open step older than the latest few read, can only keep
            // a dead peer counted a while longer: fail-closed.
            // Rows stamped before a backward step are aged on the monotonic
            // clock instead, so a dead peer's row does not look live for the
            // size of the step (`RowAges`).
            let judge = at.deadlines;
            let me = health::heartbeat(
                &records,
                node_id,
                self.instance.as_deref(),
                judge,
                Some(offset),
                liveness,
            )
            .map(|mut me| {
                me.last_seen = me.last_seen.max(now);
                me
            });
            let me = match me {
                Ok(me) => {
                    tx.put_manager(&me)?;
                    if let Some(shown) = &mut shown {
                        with_own_row(shown, me.clone());
                    }
                    with_own_row(&mut records, me);
                    Ok(())
                }
                Err(e) => Err(e),
            };
            let (state, max, license_id) = match self.license_of(tx, read.stamp.clone())? {
                Err(_) => (LicenseState::Missing, 1, None),
                Ok(lic) => {
                    let state = match lic.validity_at(at.license) {
                        Ok(()) => LicenseState::Valid,
                        Err(Validity::NotYetValid { not_before }) => {
                            LicenseState::NotYetValid { not_before }
                        }
                        Err(Validity::Expired { .. }) => LicenseState::Expired,
                    };
                    (state, lic.max_managers, Some(lic.license_id.clone()))
                }
            };
            // T3: the mark is what a clock set back is held to.
            tx.raise_high_water(at.license)?;
            let (seen, last_seen) = self.clock.seen();
            let clock = ClockReport {
                correction_ms: at.storage.millis_since(at.deadlines),
                high_water: Some(at.license),
                recorded: tx.clock_steps()?,
                seen,
                last_seen,
            };
            let serving = me.and_then(|()| {
                health::may_serve(node_id, true, &state, max, &records, judge, liveness)
            });
            Ok(Heartbeat {
                storage_now: now,
                serving,
                license_id,
                managers: shown.unwrap_or(records),
                clock_offset_ms: offset,
                clock,
            })
        })?;
        let refused = matches!(hb.serving, Err(NotServing::DuplicateNodeId { .. }));
        if let (Some(started), false) = (started, refused) {
            let mut ages = self.row_ages.lock().unwrap_or_else(|e| e.into_inner());
            ages.written(started);
        }
        Ok(hb)
    }

    /// Removes `node_id` from the registry on a clean shutdown.
    pub fn deregister(&self, node_id: &str) -> Result<(), StorageError> {
        self.store.transaction(&mut |tx| tx.delete_manager(node_id))
    }

    /// Read-only views for the admin API, at the instants decisions are
    /// taken at (a step the watch finds on the way is recorded).
    pub fn read_at<T>(
        &self,
        mut f: impl FnMut(&mut dyn Tx, &Instants) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.transact(&mut |tx, claims| {
            let (_, at) = self.clock_read(tx, claims)?;
            f(tx, &at)
        })
    }

    /// Read-only views for the admin API, at the storage clock as read.
    pub fn read<T>(
        &self,
        mut f: impl FnMut(&mut dyn Tx, UnixMillis) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.store.transaction(&mut |tx| {
            let now = tx.now()?;
            f(tx, now)
        })
    }
}

/// `rows` with `me` in place of its node's row, in node id order.
fn with_own_row(rows: &mut Vec<ManagerRecord>, me: ManagerRecord) {
    rows.retain(|r| r.node_id != me.node_id);
    rows.push(me);
    rows.sort_by(|a, b| a.node_id.cmp(&b.node_id));
}

/// The batch that held a request ended without answering it (a panic while
/// deciding). Whether it committed is unknown, as after a lost connection.
fn lost() -> ManagerError {
    ManagerError::Storage(StorageError::unavailable(
        "the transaction holding this request failed",
    ))
}

/// A batch answered an op with another op's kind of answer: a bug, reported
/// rather than trusted.
fn mismatch(answer: &Answer) -> ManagerError {
    tracing::error!(?answer, "batch answered the wrong kind of answer");
    ManagerError::Internal("mismatched batch answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_of_the_manager_is_not_told_as_a_storage_outage() {
        let internal = [
            mismatch(&Answer::Released),
            ManagerError::Storage(StorageError::internal("a broken rule")),
        ];
        for e in internal {
            assert_eq!(e.code(), ErrorCode::Internal, "{e}");
            assert_eq!(e.code().http_status(), 500);
        }
        for e in [lost(), StorageError::corrupt("a bad row").into()] {
            assert_eq!(e.code(), ErrorCode::StorageUnavailable, "{e}");
        }
    }
}
