//! The managers: the service's request path over `tenure_storage::Manager`,
//! heartbeats (M6) and the balancer's health checks.

use super::*;
use tenure_service::service::component::{self, ComponentCall, ComponentOutcome};

impl World {
    pub(super) fn manager_error(&mut self, e: &ManagerError) -> Result<Response, TransportError> {
        let code = e.code();
        if code == ErrorCode::LicenseExpired {
            self.expiry_announced = true;
        }
        *self.denials.entry(code.as_str().to_owned()).or_default() += 1;
        wire::read(&tenure_service::service::failure(e).0)
    }

    /// The service's request path, minus HTTP: the M6 gate, then one
    /// `Manager` call; every refusal and failure is the service's own
    /// answer (`tenure_service::service::failure`, `Response::error`).
    pub(super) fn serve(
        &mut self,
        m: usize,
        c: u32,
        gen_: u32,
        id: RequestId,
        req: Msg,
    ) -> Option<Result<Response, TransportError>> {
        let t = self.t;
        // M6 as the service admits a call: a manager that must not serve,
        // or cannot confirm from storage that it may, refuses every call;
        // a missing or expired license is left to storage's own answers.
        if let Err(e) = self.mgrs[m].serving(t)
            && matches!(
                e.code(),
                ErrorCode::TooManyManagers | ErrorCode::StorageUnavailable
            )
        {
            self.note_unserved(c as usize);
            *self
                .denials
                .entry(e.code().as_str().to_owned())
                .or_default() += 1;
            return Some(wire::service_error(e.code(), e.to_string()));
        }
        if let Some((code, grants_only, until)) = self.refusing
            && t < until
            && (matches!(req, Msg::Grant(_)) || !grants_only && matches!(req, Msg::Renew { .. }))
        {
            *self.denials.entry(code.as_str().to_owned()).or_default() += 1;
            return Some(wire::service_error(code, "refused by the plan"));
        }
        match req {
            Msg::Grant(raw) => {
                let req = match raw.validate() {
                    Ok(r) => r,
                    Err(e) => {
                        return Some(wire::service_error(ErrorCode::BadRequest, e.to_string()));
                    }
                };
                let random = self.rng.bytes16();
                if self.plan.bug == Some(Bug::UnserialisedGrant) {
                    return self.stale_read(m, c, gen_, id, req, random);
                }
                self.run_call(
                    m,
                    ComponentCall::Grant {
                        request: Box::new(req),
                        random: Some(random),
                    },
                )
            }
            Msg::Renew {
                grant_id,
                client_time_ms,
            } => self.run_call(
                m,
                ComponentCall::Renew {
                    id: grant_id,
                    client_time: Some(UnixMillis(client_time_ms)).filter(|c| c.0 >= 0),
                },
            ),
            Msg::Release { grant_id } => self.run_call(m, ComponentCall::Release(grant_id)),
        }
    }

    /// Runs `call` on manager `m` as the service does
    /// (`tenure_service::service::component`). A grant stays typed (the wire
    /// module sends the first of a run through bytes); every other outcome
    /// is the service's own answer, read back by the agent's decoder.
    fn run_call(
        &mut self,
        m: usize,
        call: ComponentCall,
    ) -> Option<Result<Response, TransportError>> {
        Some(match component::run(&self.mgrs[m].manager, call) {
            ComponentOutcome::Granted(g) => {
                self.committed.insert(g.grant_id, self.t);
                self.acked(m, &g);
                Ok(Response::Granted(g))
            }
            ComponentOutcome::Renewed(g) => {
                self.acked(m, &g);
                Ok(Response::Granted(g))
            }
            ComponentOutcome::Failed(e) => self.manager_error(&e),
            other => wire::read(&other.written().0),
        })
    }

    /// Planted bug 3, first half: read the pool in one transaction...
    pub(super) fn stale_read(
        &mut self,
        m: usize,
        c: u32,
        gen_: u32,
        id: RequestId,
        req: GrantRequest,
        random: [u8; 16],
    ) -> Option<Result<Response, TransportError>> {
        let mgr = &self.mgrs[m];
        let license = match mgr.manager.license() {
            Ok(l) => l,
            Err(e) => return Some(self.manager_error(&e)),
        };
        let read = mgr.store.transaction(&mut |tx| {
            tx.lock_pool(&req.instance.pool())?;
            let now = tx.now()?;
            Ok((tx.pool_view(&req.instance, now, 64)?, now))
        });
        let (view, now) = match read {
            Ok(v) => v,
            Err(e) => return Some(self.manager_error(&e.into())),
        };
        let think = self.rng.range(1, 200);
        let inc = mgr.inc;
        self.push(
            self.t + think,
            Ev::StaleCommit {
                m: m as u8,
                inc,
                c,
                gen_,
                id,
                pending: Box::new(PendingGrant {
                    req,
                    view,
                    now,
                    license,
                    id: GrantId::from_random(random),
                }),
            },
        );
        None
    }

    /// ...and commit the decision computed from that view in a later one.
    pub(super) fn stale_commit(
        &mut self,
        m: usize,
        p: PendingGrant,
    ) -> Result<Response, TransportError> {
        let cfg = *self.mgrs[m].manager.config();
        let d = decide::grant(&cfg, &p.license, &p.view, &p.req, p.now, p.id);
        let muts = d.mutations.clone();
        let applied = self.mgrs[m].store.transaction(&mut |tx| {
            for x in &muts {
                tx.apply(x)?;
            }
            Ok(())
        });
        match (applied, d.outcome) {
            (Err(e), _) => self.manager_error(&e.into()),
            (Ok(()), Ok(g)) => {
                self.committed.insert(g.grant_id, self.t);
                self.acked(m, &g);
                Ok(Response::Granted(g))
            }
            (Ok(()), Err(denial)) => self.manager_error(&ManagerError::Denied(denial)),
        }
    }

    /// A manager acknowledges a grant or renewal: I6 (it is in the store as
    /// answered) and M7 (nothing succeeds after `not_after`).
    pub(super) fn acked(&mut self, m: usize, g: &GrantResponse) {
        self.mgrs[m].grants_ok += 1;
        self.ledger.insert(g.grant_id, g.server_time_ms);
        if self.checker.last_renewed(g.grant_id) != Some(UnixMillis(g.server_time_ms)) {
            let other = self.checker.transaction(&mut |tx| tx.grant(g.grant_id));
            let msg = format!(
                "manager-{m} acknowledged grant {} at {} but the store has {other:?}",
                g.grant_id, g.server_time_ms
            );
            self.violate(6, msg);
        }
        // M7 on the storage clock, and T3: once a manager has answered that
        // the license expired, it never serves it again (until another is
        // installed), whatever the storage clock does afterwards.
        if g.server_time_ms >= self.license.not_after.0 || self.expiry_announced {
            self.late_successes += 1;
        }
    }

    pub(super) fn heartbeat(&mut self, m: usize, inc: u32) {
        let t = self.t;
        let mgr = &mut self.mgrs[m];
        if mgr.inc != inc || mgr.status != MgrStatus::Up {
            return;
        }
        let clock = mgr.clock.clone();
        // As the service does: the word a heartbeat brings holds from the
        // start of its attempt, and a failed one stops serving at once.
        let started = Duration::from_nanos(clock.now_mono_ns(t));
        let out = mgr
            .manager
            .heartbeat(&mgr.node_id, &|| UnixMillis(clock.wall_ms(t)), LIVENESS);
        if let Err(e) = &out {
            mgr.node.last_error = Some(e.to_string());
        }
        if let Ok(hb) = out {
            let expired = hb.serving == Err(NotServing::LicenseExpired);
            mgr.node.last = Some((started, hb));
            mgr.node.last_error = None;
            self.expiry_announced |= expired;
            self.read_storage_clock(m);
        }
        let next = t + self.mgrs[m].clock.true_for_local(HEARTBEAT_MS);
        self.push(next, Ev::Heartbeat { m: m as u8, inc });
        // Whether this manager serves, and so whether its peer may (M6),
        // follows its heartbeats, not only the faults.
        if self.globally_healthy() != self.healthy {
            self.refresh_health();
        }
    }

    pub(super) fn lb_check(&mut self, m: usize) {
        let t = self.t;
        let link = self.plan.mgr_link[m];
        let lost = self.rng.chance_ppm(link.loss_ppm.saturating_mul(2));
        let mgr = &self.mgrs[m];
        let ok = !lost
            && mgr.status == MgrStatus::Up
            && !self.lb_to_mgr[m]
            && !self.mgr_to_lb[m]
            && mgr.serves(t);
        let cfg = self.plan.lb;
        let b = &mut self.lb[m];
        if ok {
            b.ok_run += 1;
            b.fail_run = 0;
            if !b.up && b.ok_run >= cfg.rise {
                b.up = true;
            }
        } else {
            b.fail_run += 1;
            b.ok_run = 0;
            if b.up && b.fail_run >= cfg.fall {
                b.up = false;
            }
        }
        let next = t + cfg.inter_ms;
        self.next_check[m] = next;
        if self.lb_down_until_fault() {
            // Every check fails until a fault changes a manager or a link
            // (days, in an outage): wait for it instead of failing every
            // `inter`. The loss draw such a check would make decides nothing.
            self.parked_check[m] = Some(next);
            return;
        }
        self.push(next, Ev::Check { m: m as u8 });
    }

    /// After a fault: health checks parked by `lb_check` resume on their
    /// grid of `inter`, at the first instant after now.
    pub(super) fn unpark_checks(&mut self) {
        if self.lb_down_until_fault() {
            return;
        }
        let inter = self.plan.lb.inter_ms.max(1);
        for m in 0..2 {
            if let Some(due) = self.parked_check[m].take() {
                let at = if due > self.t {
                    due
                } else {
                    due + ((self.t - due) / inter + 1) * inter
                };
                self.next_check[m] = at;
                self.push(at, Ev::Check { m: m as u8 });
            }
        }
    }
}
