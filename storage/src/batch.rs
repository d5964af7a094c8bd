//! Component requests decided together in one transaction. The batch runs
//! its ops one after the other, in arrival order, at one storage instant:
//! each sees the writes of the ops before it, exactly as if each had been its
//! own transaction committed at that instant. Only the commit is shared.

use crate::clock::Claims;
use crate::manager::{EXPIRED_PER_DECISION, Manager, ManagerError};
use crate::port::{BatchTx, GrantsAndNow, StorageError, StorageErrorKind, Store};
use std::sync::Arc;
use tenure_core::license::License;
use tenure_core::manager::{
    self as decide, Decision, HeldGrant, Instants, Mutation, PoolTotals, PoolView,
};
use tenure_core::wire::{EndReason, GrantRequest, GrantResponse, Instance, PoolKey};
use tenure_core::{GrantId, UnixMillis};

/// A component request that can share a transaction with others.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `POST /v1/grants`; `id` is the new grant's id if it is granted.
    Grant { req: GrantRequest, id: GrantId },
    /// `POST /v1/grants/{id}/renew`.
    Renew {
        id: GrantId,
        client_time: Option<UnixMillis>,
    },
    /// `DELETE /v1/grants/{id}`.
    Release(GrantId),
}

/// What a successful [`Op`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Granted(GrantResponse),
    Renewed(GrantResponse),
    Released,
}

pub type OpResult = Result<Answer, ManagerError>;

impl Op {
    fn grant_id(&self) -> Option<GrantId> {
        match self {
            Op::Grant { .. } => None,
            Op::Renew { id, .. } | Op::Release(id) => Some(*id),
        }
    }
}

/// What a batch knows of a pool it grants in, kept current as its own
/// mutations apply.
struct PoolState {
    pool: PoolKey,
    /// Counted once per pool and batch; a count over a large pool is the
    /// costliest read of a grant.
    totals: PoolTotals,
    /// The pool's last read of grants past their deadline filled its limit,
    /// so more may wait in storage. A grant decision reclaims every such
    /// grant it is shown, so after a read that did not fill it the pool has
    /// none left at the batch's instant.
    more_expired: bool,
}

/// A batch's answers, and what its manager learns of grants' pools once the
/// batch has committed.
struct Settled {
    answers: Vec<OpResult>,
    ended: Vec<GrantId>,
    grants: Vec<HeldGrant>,
}

/// What a batch knows, kept current as its own mutations apply: the grants
/// its renewals and releases name, the pools it grants in, the rows of the
/// instances it grants to, and its writes not yet sent. Small vectors, not
/// maps: a batch holds at most a few dozen entries, and most batches one.
struct BatchState {
    /// The grants rows the batch read under the pools' locks (those its
    /// ops name and those of the instances it grants to) and those it
    /// inserted; one that ends is removed. A grant not here is not held:
    /// every id an op names was read.
    grants: Vec<HeldGrant>,
    pools: Vec<PoolState>,
    /// Which of `grants` is the row of each instance the batch's grant
    /// requests name, sorted by instance: read once, then kept current. An
    /// instance not here is read from storage when needed.
    instances: Vec<(Instance, Option<GrantId>)>,
    /// Renewals change no count, sum or expiry at the batch's instant, and
    /// new grants are held past it, so both wait and go to storage together,
    /// before anything that reads or removes grants.
    renewals: Vec<Mutation>,
    inserts: Vec<Mutation>,
    /// Grants the batch ended, for the manager to forget their pools.
    ended: Vec<GrantId>,
}

impl BatchState {
    fn held(&self, id: GrantId) -> Option<&HeldGrant> {
        self.grants.iter().find(|g| g.grant_id == id)
    }

    fn held_mut(&mut self, id: GrantId) -> Option<&mut HeldGrant> {
        self.grants.iter_mut().find(|g| g.grant_id == id)
    }

    fn set(&mut self, grant: HeldGrant) {
        match self.held_mut(grant.grant_id) {
            Some(g) => *g = grant,
            None => self.grants.push(grant),
        }
    }

    fn pool_mut(&mut self, pool: &PoolKey) -> Option<&mut PoolState> {
        self.pools.iter_mut().find(|p| &p.pool == pool)
    }

    fn totals_mut(&mut self, instance: &Instance) -> Option<&mut PoolTotals> {
        self.pools
            .iter_mut()
            .find(|p| {
                p.pool.environment == instance.environment && p.pool.product == instance.product
            })
            .map(|p| &mut p.totals)
    }

    /// `Some(row)` when the batch knows `instance`'s grants row (`row` is
    /// `None` when it has none), `None` when it must ask storage.
    fn instance_row(&self, instance: &Instance) -> Option<Option<&HeldGrant>> {
        self.instances
            .binary_search_by(|(i, _)| i.cmp(instance))
            .ok()
            .map(|at| self.instances[at].1.and_then(|id| self.held(id)))
    }

    /// Reads the rows of the instances `ops` grant to, together. A batch of
    /// one grant reads its instance with its pool instead.
    fn read_instances(&mut self, tx: &mut dyn BatchTx, ops: &[Op]) -> Result<(), StorageError> {
        let mut asked: Vec<Instance> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Grant { req, .. } => Some(req.instance.clone()),
                _ => None,
            })
            .collect();
        if asked.len() < 2 {
            return Ok(());
        }
        asked.sort_unstable();
        asked.dedup();
        let rows = tx.grants_by_instance(&asked)?;
        self.instances = asked
            .into_iter()
            .map(|instance| {
                let id = rows
                    .iter()
                    .find(|g| g.instance == instance)
                    .map(|g| g.grant_id);
                (instance, id)
            })
            .collect();
        for row in rows {
            self.set(row);
        }
        Ok(())
    }

    /// New grants first: a renewal the batch holds may be of a grant it
    /// inserted, while no insert depends on a renewal (a grant it replaces
    /// has ended, and every end flushes first).
    fn flush(&mut self, tx: &mut dyn BatchTx) -> Result<(), StorageError> {
        if !self.inserts.is_empty() {
            tx.apply_inserts(&std::mem::take(&mut self.inserts))?;
        }
        if !self.renewals.is_empty() {
            tx.apply_renewals(&std::mem::take(&mut self.renewals))?;
        }
        Ok(())
    }

    fn apply(&mut self, tx: &mut dyn BatchTx, m: &Mutation) -> Result<(), StorageError> {
        match m {
            Mutation::Renew { grant_id, .. } => {
                let earlier = self
                    .renewals
                    .iter_mut()
                    .find(|r| matches!(r, Mutation::Renew { grant_id: id, .. } if id == grant_id));
                match earlier {
                    Some(r) => *r = m.clone(),
                    None => self.renewals.push(m.clone()),
                }
            }
            Mutation::Insert(_) => self.inserts.push(m.clone()),
            Mutation::End { .. } => {
                // The grant it ends may be one this batch has yet to write.
                self.flush(tx)?;
                tx.apply(m)?;
            }
        }
        self.track(m);
        Ok(())
    }

    fn track(&mut self, m: &Mutation) {
        match m {
            Mutation::Insert(g) => {
                if let Some(t) = self.totals_mut(&g.instance) {
                    t.add(g.facts.cores);
                }
                if let Ok(at) = self.instances.binary_search_by(|(i, _)| i.cmp(&g.instance)) {
                    self.instances[at].1 = Some(g.grant_id);
                }
                self.set(g.clone());
            }
            Mutation::Renew { grant_id, .. } => {
                if let Some(g) = self.held_mut(*grant_id) {
                    g.apply_renewal(m);
                }
            }
            Mutation::End { grant_id, usage } => {
                // Core ends a grant past its deadline only as grace_exceeded,
                // and such a grant was not counted as held.
                if usage.end_reason != EndReason::GraceExceeded
                    && let Some(t) = self.totals_mut(&usage.instance)
                {
                    t.servers = t.servers.saturating_sub(1);
                    t.total_cores = t.total_cores.saturating_sub(u64::from(usage.facts.cores));
                }
                self.grants.retain(|g| g.grant_id != *grant_id);
                self.ended.push(*grant_id);
                for (_, id) in &mut self.instances {
                    if *id == Some(*grant_id) {
                        *id = None;
                    }
                }
            }
        }
    }

    /// What a grant decision for `instance` must know of its pool: from
    /// storage the first time the batch grants in the pool (and whenever
    /// grants past their deadline may still wait there), else from what
    /// the batch keeps. `now` is the instant deadlines are judged at.
    fn pool_view(
        &mut self,
        tx: &mut dyn BatchTx,
        instance: &Instance,
        now: UnixMillis,
    ) -> Result<PoolView, StorageError> {
        let pool = instance.pool();
        let known = self.pool_mut(&pool).map(|p| (p.totals, p.more_expired));
        let row = self.instance_row(instance).map(|r| r.cloned());
        let (held, row) = match (known, row) {
            (Some((held, false)), Some(row)) => (held, row),
            (known, row) => {
                self.flush(tx)?;
                let view = match (known, row) {
                    (Some((held, _)), _) => {
                        tx.pool_view_counted(instance, now, EXPIRED_PER_DECISION, held)?
                    }
                    (None, Some(row)) => {
                        tx.pool_view_with_row(instance, now, EXPIRED_PER_DECISION, row)?
                    }
                    (None, None) => tx.pool_view(instance, now, EXPIRED_PER_DECISION)?,
                };
                let more_expired = view.expired.len() >= EXPIRED_PER_DECISION;
                match self.pool_mut(&pool) {
                    Some(p) => p.more_expired = more_expired,
                    None => self.pools.push(PoolState {
                        pool,
                        totals: view.held,
                        more_expired,
                    }),
                }
                return Ok(view);
            }
        };
        // The instance's own grant past its deadline must end before its new
        // one can take the instance's row.
        let (same_instance, expired) = match row {
            Some(g) if g.is_held_at(now) => (Some(g), Vec::new()),
            Some(g) => (None, vec![g]),
            None => (None, Vec::new()),
        };
        Ok(PoolView {
            held,
            same_instance,
            expired,
        })
    }
}

fn apply<T>(
    tx: &mut dyn BatchTx,
    state: &mut BatchState,
    d: Decision<T>,
    answer: impl FnOnce(T) -> Answer,
) -> Result<OpResult, StorageError> {
    for m in &d.mutations {
        state.apply(tx, m)?;
    }
    Ok(d.outcome.map(answer).map_err(ManagerError::Denied))
}

impl<S: Store> Manager<S> {
    /// Decides `ops` in one transaction and commits once; answers in order.
    /// A batch that fails for another reason than an unreachable database is
    /// run again one op per transaction, so one bad row fails only its op.
    pub fn run_batch(&self, ops: &[Op]) -> Vec<OpResult> {
        match self.transact(&mut |tx, claims| self.batch_body(tx, claims, ops)) {
            Ok(done) => {
                // Only once committed: a rolled-back attempt taught nothing.
                self.pools_of.settle(&done.ended, &done.grants);
                done.answers
            }
            Err(e) if e.kind() == StorageErrorKind::Unavailable => vec![Err(e.into()); ops.len()],
            Err(e) if ops.len() == 1 => vec![Err(e.into())],
            Err(e) => {
                tracing::warn!(error = %e, ops = ops.len(), "batch failed; running its ops one by one");
                ops.iter()
                    .flat_map(|op| self.run_batch(std::slice::from_ref(op)))
                    .collect()
            }
        }
    }

    fn batch_body(
        &self,
        tx: &mut dyn BatchTx,
        claims: &mut Claims,
        ops: &[Op],
    ) -> Result<Settled, StorageError> {
        let mut ids: Vec<GrantId> = ops.iter().filter_map(Op::grant_id).collect();
        // Read each grant once, however many ops name it.
        ids.sort_unstable();
        ids.dedup();
        // The pools of grants this manager has seen are known; read the
        // others once to learn theirs, lock, then read every named grant
        // (again, for those: another manager may have changed them
        // meanwhile, unless no one else can write).
        let (known, unknown) = self.pools_of.lookup(&ids);
        let before = if unknown.is_empty() {
            Vec::new()
        } else {
            tx.grants(&unknown)?
        };
        let mut pools: Vec<PoolKey> = known;
        pools.extend(before.iter().map(|g| g.instance.pool()));
        pools.extend(ops.iter().filter_map(|op| match op {
            Op::Grant { req, .. } => Some(req.instance.pool()),
            _ => None,
        }));
        // One global order, so two managers' batches never deadlock.
        pools.sort_unstable();
        pools.dedup();
        for pool in &pools {
            tx.lock_pool(pool)?;
        }
        // The clock comes with the grants' read when it can: both follow
        // every lock, unless a grant turns out to lie in a pool not locked.
        let mut clock = None;
        let after_lock = if ids.is_empty() {
            Vec::new()
        } else if tx.excludes_other_writers() {
            // Nothing changed since `before`: read only the grants it lacks.
            if unknown.is_empty() {
                tx.grants(&ids)?
            } else {
                let seen: Vec<GrantId> = ids
                    .iter()
                    .filter(|id| unknown.binary_search(id).is_err())
                    .copied()
                    .collect();
                let mut all = before;
                if !seen.is_empty() {
                    all.extend(tx.grants(&seen)?);
                }
                all
            }
        } else {
            let before = self.clock.mono();
            let GrantsAndNow { grants, read } = tx.grants_and_now(&ids)?;
            clock = Some((read, before));
            grants
        };
        for g in &after_lock {
            let pool = g.instance.pool();
            if pools.binary_search(&pool).is_err() {
                tx.lock_pool(&pool)?;
                clock = None;
            }
        }
        let mut state = BatchState {
            grants: after_lock,
            pools: Vec::new(),
            instances: Vec::new(),
            renewals: Vec::new(),
            inserts: Vec::new(),
            ended: Vec::new(),
        };
        state.read_instances(tx, ops)?;
        // The storage clock after the locks: a batch that waited for another
        // manager's decisions decides at the instant it holds the pools.
        let (read, at) = match clock {
            Some((read, before)) => {
                let at = self.clock.instants(tx, claims, &read, before)?;
                (read, at)
            }
            None => self.clock_read(tx, claims)?,
        };
        // Releases need no license: a component may always give its slot back.
        let license = self.license_of(tx, read.stamp.clone())?;
        if let Ok(lic) = &license
            && at.license >= lic.not_after
            && read.clock.high_water.is_none_or(|h| h < lic.not_after)
        {
            // T3: once judged expired, a clock set back before the next
            // heartbeat must not make it valid again.
            tx.raise_high_water(at.license)?;
        }
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(self.decide_one(tx, &mut state, &license, op, &at)?);
        }
        state.flush(tx)?;
        Ok(Settled {
            answers: out,
            ended: state.ended,
            grants: state.grants,
        })
    }

    fn decide_one(
        &self,
        tx: &mut dyn BatchTx,
        state: &mut BatchState,
        license: &Result<Arc<License>, ManagerError>,
        op: &Op,
        at: &Instants,
    ) -> Result<OpResult, StorageError> {
        let cfg = self.config();
        match op {
            Op::Grant { req, id } => {
                let lic = match license {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e.clone())),
                };
                let view = state.pool_view(tx, &req.instance, at.deadlines)?;
                let d = decide::grant(cfg, lic, &view, req, *at, *id);
                apply(tx, state, d, Answer::Granted)
            }
            Op::Renew { id, client_time } => {
                let lic = match license {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e.clone())),
                };
                // The decision borrows the grant; nothing of it is kept.
                let held = state.held(*id);
                // A grant the batch does not hold has ended (or never was):
                // its usage row, written before this batch or by an earlier
                // op of it (a grant that replaced it, M3), says how.
                let ended = match held {
                    Some(_) => None,
                    None => tx.ended(*id)?,
                };
                let d = decide::renew(cfg, lic, held, ended.as_ref(), *client_time, *at);
                apply(tx, state, d, Answer::Renewed)
            }
            Op::Release(id) => {
                let d = decide::release(state.held(*id), *at);
                apply(tx, state, d, |()| Answer::Released)
            }
        }
    }
}
