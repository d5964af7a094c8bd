//! Component requests decided together in one transaction. The batch runs
//! its ops one after the other, in arrival order, at one storage instant:
//! each sees the writes of the ops before it, exactly as if each had been its
//! own transaction committed at that instant. Only the commit is shared.

use crate::manager::{EXPIRED_PER_DECISION, Manager, ManagerError};
use crate::port::{StorageError, Store, Tx};
use std::sync::Arc;
use tenure_core::license::License;
use tenure_core::manager::{self as decide, Decision, HeldGrant, Mutation, PoolTotals};
use tenure_core::wire::{EndReason, GrantRequest, GrantResponse, PoolKey};
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

/// What a batch knows, kept current as its own mutations apply: the grants
/// its renewals and releases name, the held totals of the pools it grants
/// in, and its renewals not yet written. Small vectors searched in order, not
/// maps: a batch holds at most a few dozen entries, and most batches one.
struct BatchState {
    /// The held grants among those the batch's ops name (read under the
    /// pools' locks) and those it inserted; one that ends is removed. A
    /// grant not here is not held: every id an op names was read.
    grants: Vec<HeldGrant>,
    /// Counted once per pool and batch; a count over a large pool is the
    /// costliest read of a grant.
    totals: Vec<(PoolKey, PoolTotals)>,
    /// Renewals change no count, sum or expiry at the batch's instant, so
    /// they wait and go to storage together, before anything that reads or
    /// removes grants.
    renewals: Vec<Mutation>,
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

    fn totals_mut(&mut self, pool: &PoolKey) -> Option<&mut PoolTotals> {
        self.totals
            .iter_mut()
            .find(|(p, _)| p == pool)
            .map(|(_, t)| t)
    }

    fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), StorageError> {
        if !self.renewals.is_empty() {
            tx.apply_renewals(&std::mem::take(&mut self.renewals))?;
        }
        Ok(())
    }

    fn apply(&mut self, tx: &mut dyn Tx, m: &Mutation) -> Result<(), StorageError> {
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
            Mutation::Insert(_) | Mutation::End { .. } => {
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
                if let Some(t) = self.totals_mut(&g.instance.pool()) {
                    t.add(g.facts.cores);
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
                    && let Some(t) = self.totals_mut(&usage.instance.pool())
                {
                    t.servers = t.servers.saturating_sub(1);
                    t.total_cores = t.total_cores.saturating_sub(u64::from(usage.facts.cores));
                }
                self.grants.retain(|g| g.grant_id != *grant_id);
            }
        }
    }
}

fn apply<T>(
    tx: &mut dyn Tx,
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
        match self.store().transaction(&mut |tx| self.batch_body(tx, ops)) {
            Ok(results) => results,
            Err(e @ StorageError::Unavailable(_)) => vec![Err(e.into()); ops.len()],
            Err(e) if ops.len() == 1 => vec![Err(e.into())],
            Err(e) => {
                tracing::warn!(error = %e, ops = ops.len(), "batch failed; running its ops one by one");
                ops.iter()
                    .flat_map(|op| self.run_batch(std::slice::from_ref(op)))
                    .collect()
            }
        }
    }

    fn batch_body(&self, tx: &mut dyn Tx, ops: &[Op]) -> Result<Vec<OpResult>, StorageError> {
        let mut ids: Vec<GrantId> = ops.iter().filter_map(Op::grant_id).collect();
        // Read each grant once, however many ops name it.
        ids.sort_unstable();
        ids.dedup();
        // Read the named grants once to learn their pools, lock, then read
        // them again (unless no one else can write): another manager may
        // have changed them meanwhile.
        let before = if ids.is_empty() {
            Vec::new()
        } else {
            tx.grants(&ids)?
        };
        let mut pools: Vec<PoolKey> = before
            .iter()
            .map(|g| g.instance.pool())
            .chain(ops.iter().filter_map(|op| match op {
                Op::Grant { req, .. } => Some(req.instance.pool()),
                _ => None,
            }))
            .collect();
        // One global order, so two managers' batches never deadlock.
        pools.sort_unstable();
        pools.dedup();
        for pool in &pools {
            tx.lock_pool(pool)?;
        }
        let after_lock = if ids.is_empty() {
            Vec::new()
        } else if tx.excludes_other_writers() {
            before
        } else {
            tx.grants(&ids)?
        };
        for g in &after_lock {
            let pool = g.instance.pool();
            if pools.binary_search(&pool).is_err() {
                tx.lock_pool(&pool)?;
            }
        }
        let mut state = BatchState {
            grants: after_lock,
            totals: Vec::new(),
            renewals: Vec::new(),
        };
        // The storage clock after the locks: a batch that waited for another
        // manager's decisions decides at the instant it holds the pools.
        let now = tx.now()?;
        // Releases need no license: a component may always give its slot back.
        let license = self.load_license(tx)?;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(self.decide_one(tx, &mut state, &license, op, now)?);
        }
        state.flush(tx)?;
        Ok(out)
    }

    fn decide_one(
        &self,
        tx: &mut dyn Tx,
        state: &mut BatchState,
        license: &Result<Arc<License>, ManagerError>,
        op: &Op,
        now: UnixMillis,
    ) -> Result<OpResult, StorageError> {
        let cfg = self.config();
        match op {
            Op::Grant { req, id } => {
                let lic = match license {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e.clone())),
                };
                state.flush(tx)?;
                let pool = req.instance.pool();
                let view = match state.totals_mut(&pool) {
                    Some(held) => {
                        let held = *held;
                        tx.pool_view_counted(&req.instance, now, EXPIRED_PER_DECISION, held)?
                    }
                    None => {
                        let view = tx.pool_view(&req.instance, now, EXPIRED_PER_DECISION)?;
                        state.totals.push((pool, view.held));
                        view
                    }
                };
                let d = decide::grant(cfg, lic, &view, req, now, *id);
                apply(tx, state, d, Answer::Granted)
            }
            Op::Renew { id, client_time } => {
                let lic = match license {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e.clone())),
                };
                // The decision borrows the grant; nothing of it is kept.
                let held = state.held(*id);
                let ended = match held {
                    Some(_) => None,
                    None => tx.end_reason(*id)?,
                };
                let d = decide::renew(cfg, lic, held, ended, *client_time, now);
                apply(tx, state, d, Answer::Renewed)
            }
            Op::Release(id) => {
                let d = decide::release(state.held(*id), now);
                apply(tx, state, d, |()| Answer::Released)
            }
        }
    }
}
