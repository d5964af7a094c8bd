//! The invariant checker: I1, I2, I4, I7, I9 and I10 after every event,
//! health windows for I4, and liveness once everything has healed.

use super::*;

impl World {
    /// I9: a component stops only on a Tenure denial a manager gave, or for
    /// grace once its true deadline has come; before it, only when it could
    /// not reach a serving manager (T2 lets a wall-clock step end grace then).
    pub(super) fn check_i9(
        &mut self,
        c: usize,
        reason: StopReason,
        earliest: u64,
        from_manager: bool,
        reachable: bool,
    ) {
        let t = self.t;
        match reason {
            StopReason::Requested => {}
            StopReason::GraceExpired => {
                // An early grace stop is a T2 confirmation round that no
                // manager answered. One that met no serving manager tried
                // each URL once, as T2 says, and is not blamed: the world
                // may count as healthy before the balancer has failed over
                // or a restarted manager serves.
                let round = self.confirm_round_ms() + DRIVER_MAX_SLEEP_MS;
                let unserved = self.comps[c]
                    .unserved_at
                    .is_some_and(|l| l.saturating_add(round) >= t);
                if t < earliest && reachable && !unserved {
                    let msg = format!(
                        "c{c} stopped for grace {} s before its deadline while a manager was reachable",
                        (earliest - t) / SEC
                    );
                    self.violate(9, msg);
                }
            }
            _ => {
                if !from_manager {
                    let msg = format!("c{c} stopped ({reason:?}) on an answer no manager gave");
                    self.violate(9, msg);
                }
            }
        }
    }

    /// I10: a process whose twin (the plan's, same identity) claimed the
    /// instance after it never renews with a request sent after that claim.
    pub(super) fn check_i10(&mut self, c: usize, sent: u64) {
        if let Some(d) = self.twin_of(c) {
            let other = &self.comps[d];
            if let (Some(theirs), Some(mine)) = (other.claimed_at, self.comps[c].claimed_at)
                && other.running
                && theirs > mine
                && sent > theirs
            {
                let msg = format!(
                    "c{c} renewed at {} ms although its twin c{d} claimed the instance at {theirs} ms",
                    self.t
                );
                self.violate(10, msg);
            }
        }
    }

    pub(super) fn i4_window(&self) -> u64 {
        (3600 * SEC).min(self.plan.grace_ms() / 3)
    }

    pub(super) fn globally_healthy(&self) -> bool {
        self.db_up()
            && self.t < self.license.not_after.0.saturating_sub(WALL0) as u64
            // A proxy answering its own pages hides every manager.
            && self.proxy.is_none_or(|(_, until)| self.t >= until)
            && self.refusing.is_none_or(|(_, _, until)| self.t >= until)
            && (0..2).any(|m| {
                // With max_managers 1, or with both given one node id, the
                // peer, if it serves, holds the only slot (M6) even when the
                // balancer cannot reach it.
                let peer = &self.mgrs[1 - m];
                let peer_holds = (self.license.max_managers < 2 || self.plan.node_clash)
                    && peer.status == MgrStatus::Up
                    && peer.store.reachable()
                    && peer.serving(self.t).is_ok();
                self.mgrs[m].status == MgrStatus::Up
                    && self.mgrs[m].store.reachable()
                    && !self.lb_to_mgr[m]
                    && !self.mgr_to_lb[m]
                    && !peer_holds
            })
    }

    pub(super) fn refresh_health(&mut self) {
        let g = self.globally_healthy();
        self.healthy = g;
        for c in 0..self.comps.len() {
            self.set_health(c, g);
        }
    }

    pub(super) fn refresh_health_of(&mut self, c: usize) {
        let g = self.globally_healthy();
        self.set_health(c, g);
    }

    pub(super) fn set_health(&mut self, c: usize, global: bool) {
        let t = self.t;
        let comp = &mut self.comps[c];
        let ok = global
            && !comp.crashed
            && !comp.clock.is_suspended()
            && !comp.up_blocked
            && !comp.down_blocked;
        match (comp.healthy_since, ok) {
            (None, true) => comp.healthy_since = Some(t),
            (Some(s), false) => {
                comp.best_window = comp.best_window.max(t.saturating_sub(s));
                comp.healthy_since = None;
            }
            _ => {}
        }
    }

    pub(super) fn check_after_event(&mut self) {
        // I1: components running (licensed or in grace) fit every limit.
        if self.limit_servers.is_some_and(|max| self.servers > max)
            || self.limit_cores.is_some_and(|max| self.cores > max)
        {
            self.forfeit_slots_freed_unseen();
            self.forfeit_slots_reclaimed_in_blind_time();
        }
        if let Some(max) = self.limit_servers
            && self.servers > max
        {
            let msg = format!("{} components running, max_servers {max}", self.servers);
            self.violate(1, msg);
        }
        if let Some(max) = self.limit_cores
            && self.cores > max
        {
            let msg = format!("{} cores running, max_total_cores {max}", self.cores);
            self.violate(1, msg);
        }
        // I2: nobody runs past grace of true time since its last success.
        self.check_i2(self.t);
        // I7: never more serving managers than the license allows (a
        // license that allows them all cannot be exceeded: not counted).
        let max = self.license.max_managers as usize;
        let serving = if max >= self.mgrs.len() {
            0
        } else {
            (0..self.mgrs.len())
                .filter(|m| {
                    let mgr = &self.mgrs[*m];
                    mgr.status == MgrStatus::Up
                        && self.db_up()
                        && mgr.store.reachable()
                        && mgr.serves(self.t)
                })
                .count()
        };
        if serving > max {
            let msg = format!(
                "{serving} managers serving, max_managers {}",
                self.license.max_managers
            );
            self.violate(7, msg);
        }
        // M6: one node id, one serving process. The plan says whether both
        // processes were given one id (a string compare here ran after
        // every event).
        if self.plan.node_clash
            && self.mgrs.iter().all(|m| {
                m.status == MgrStatus::Up && self.db_up() && m.store.reachable() && m.serves(self.t)
            })
        {
            let msg = format!("two processes serving as {}", self.mgrs[0].node_id);
            self.violate(7, msg);
        }
        // I5: the worst renewal gap across a failover.
        if let Some(g) = self.worst_gap
            && g > self.failover_bound
            && !self.verdicts.failed(5)
        {
            let msg = format!(
                "renewal gap across failover {} ms > bound {} ms",
                g, self.failover_bound
            );
            self.violate(5, msg);
        }
    }

    /// The longest a T2 confirmation round takes: the agent asks each of its
    /// manager URLs once, one after another, each with its request timeout
    /// (two URLs when the plan's agents talk to the managers directly), and
    /// a manager that answers 404 `unknown_grant` (a grant reclaimed while
    /// the host was away) is asked for a new grant within the round (A4).
    pub(super) fn confirm_round_ms(&self) -> u64 {
        let urls = if self.plan.direct { 2 } else { 1 };
        (urls + 1) * AGENT_REQUEST_TIMEOUT_MS
    }

    /// I2 for a host whose wall clock was set back and which was paused since
    /// its last success: neither clock saw the smaller of the two, so the
    /// agent stops that much late (plus a driver wake-up and a confirmation
    /// round); the facts are the plan's faults, not the agent's state.
    pub(super) fn allow_blind_time(&mut self, c: usize) {
        let comp = &mut self.comps[c];
        let lag = u64::try_from(-comp.wall_shift_ms.min(0)).unwrap_or(0);
        let blind = lag.min(comp.paused_ms);
        if !comp.running || blind == 0 {
            return;
        }
        let round = self.confirm_round_ms();
        let comp = &mut self.comps[c];
        let slack = comp.clock.true_for_local(DRIVER_MAX_SLEEP_MS + round);
        let allowed = comp.i2_base + blind + slack;
        if allowed > comp.i2_allowed {
            comp.i2_allowed = allowed;
            let e = comp.i2_epoch;
            self.i2_hints.push(Reverse((allowed + 1, c as u32, e)));
        }
    }

    /// I2 at every deadline due by `upto`, each at its own instant: the state
    /// between two events is the one the earlier left, so a component still
    /// running at its deadline is caught however sparse the events are.
    // Inlined, with the work out of line: it runs twice per event, and at
    // most events no deadline is due.
    #[inline(always)]
    pub(super) fn check_i2(&mut self, upto: u64) {
        if self
            .i2_hints
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= upto)
        {
            self.check_i2_due(upto);
        }
    }

    #[inline(never)]
    fn check_i2_due(&mut self, upto: u64) {
        let t = self.t;
        while let Some(Reverse((at, c, epoch))) = self.i2_hints.peek().copied() {
            if at > upto {
                break;
            }
            self.i2_hints.pop();
            let comp = &self.comps[c as usize];
            if comp.i2_epoch != epoch || !comp.running || comp.crashed {
                continue;
            }
            if comp.clock.is_suspended() {
                continue; // the resume pushes a new hint
            }
            let now = at.max(t);
            if now > comp.i2_allowed {
                let over = now - comp.base_deadline();
                let msg = format!(
                    "c{c} still running {} s after its grace deadline (last success sent at {} ms)",
                    over / SEC,
                    comp.last_ok_send
                );
                self.t = now;
                self.violate(2, msg);
                self.t = t;
            } else {
                let a = comp.i2_allowed;
                self.i2_hints.push(Reverse((a + 1, c, epoch)));
            }
        }
    }

    pub(super) fn liveness(&mut self) {
        self.check_clock_record(true);
        let t = self.t;
        let mut bad = Vec::new();
        for (c, comp) in self.comps.iter().enumerate() {
            if comp.crashed || comp.clock.is_suspended() || comp.up_blocked || comp.down_blocked {
                continue;
            }
            let Some(agent) = comp.agent.as_ref() else {
                continue;
            };
            match agent.state() {
                State::Licensed { .. } => {
                    let fresh = t.saturating_sub(comp.last_ok_send)
                        <= self.plan.renew_every_s * SEC * 11 / 10 + MIN;
                    if !fresh {
                        bad.push(format!("c{c} licensed but not renewing"));
                    }
                }
                State::Grace { .. } | State::Confirming { .. } => {
                    bad.push(format!("c{c} still in grace after healing"));
                }
                State::Starting => {
                    if self.plan.expect_all_running() {
                        bad.push(format!("c{c} not started after healing"));
                    }
                }
                State::Stopped(r) => {
                    if self.plan.expect_all_running() {
                        bad.push(format!("c{c} stopped ({r:?}) after healing"));
                    }
                }
            }
        }
        if let Some(first) = bad.first().cloned() {
            self.verdicts
                .fail_liveness(t, format!("{} components: {first}", bad.len()));
        }
    }
}
