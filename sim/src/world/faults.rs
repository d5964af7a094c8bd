//! The fault schedule applied to the world, and I6's ledger check when a
//! manager dies.

use super::*;

impl World {
    pub(super) fn any_up_manager(&self) -> Option<usize> {
        (0..2).find(|m| self.mgrs[*m].status == MgrStatus::Up)
    }

    pub(super) fn crash_comp(&mut self, c: usize) {
        let t = self.t;
        let comp = &mut self.comps[c];
        if comp.crashed {
            return;
        }
        comp.crashed = true;
        comp.guard = None;
        comp.deferred = None;
        comp.agent = None;
        comp.gen_ += 1;
        comp.token += 1;
        comp.wake_at = None;
        comp.running = false;
        comp.i5_pending = None;
        if let Some(s) = comp.grace_since.take() {
            self.grace_ms_total += t.saturating_sub(s);
        }
        self.recount(c);
        // Remember until when storage holds its slot (for crash-reclaim).
        let inst = self.comps[c].req.instance.clone();
        if let Ok(Some(h)) = self
            .checker
            .transaction(&mut |tx| tx.grant_by_instance(&inst))
        {
            self.held_until_at_crash
                .insert(c, u64::try_from(h.held_until.0 - WALL0).unwrap_or(0));
        }
    }

    pub(super) fn apply_fault(&mut self, f: Fault) {
        let t = self.t;
        match f {
            Fault::MgrCrash(m) | Fault::MgrHang(m) => {
                let hang = matches!(f, Fault::MgrHang(_));
                let other_ok = self.mgrs[1 - m].status == MgrStatus::Up;
                self.watcher_lost(m);
                let mgr = &mut self.mgrs[m];
                mgr.inc += 1;
                mgr.status = if hang {
                    MgrStatus::Hung
                } else {
                    MgrStatus::Crashed
                };
                if !hang {
                    mgr.node = NodeState::default();
                }
                self.check_ledger();
                if self.plan.measure_failover && m == 0 && other_ok {
                    self.failover = Some(t);
                    for comp in &mut self.comps {
                        if comp.running {
                            comp.i5_pending = Some(t);
                            comp.i5_attempt = None;
                        }
                    }
                }
            }
            Fault::MgrRestart(m) | Fault::MgrUnhang(m) => {
                let mgr = &mut self.mgrs[m];
                if mgr.status == MgrStatus::Crashed {
                    mgr.manager = self.launch.start(&mgr.store, &nonce(m, mgr.inc + 1));
                }
                mgr.inc += 1;
                mgr.status = MgrStatus::Up;
                let inc = mgr.inc;
                self.push(t, Ev::Heartbeat { m: m as u8, inc });
                self.push(t + SWEEP_MS, Ev::Sweep { m: m as u8, inc });
            }
            Fault::DbDown => self.db_switch.store(false, Ordering::SeqCst),
            Fault::DbUp => self.db_switch.store(true, Ordering::SeqCst),
            Fault::MgrDbCut(m, cut) => self.mgrs[m].store.set_reachable(!cut),
            Fault::LbCut { m, to_mgr, to_lb } => {
                self.lb_to_mgr[m] = to_mgr;
                self.mgr_to_lb[m] = to_lb;
            }
            Fault::CompCut { from, to, up, down } => {
                for comp in
                    &mut self.comps[from.min(self.plan.components)..to.min(self.plan.components)]
                {
                    comp.up_blocked = up;
                    comp.down_blocked = down;
                }
            }
            Fault::CompCrash(c) => {
                if c < self.comps.len() {
                    self.crash_comp(c);
                }
            }
            Fault::CompStop(c) => {
                if c < self.comps.len() {
                    self.when_awake(c, HostAction::Stop);
                }
            }
            Fault::CompRestart(c) => {
                if c < self.comps.len() && (self.comps[c].crashed || self.comps[c].stopped_cleanly)
                {
                    self.when_awake(c, HostAction::Start);
                }
            }
            Fault::CrashBurst {
                from,
                to,
                after_ms,
                spread_ms,
            } => {
                for c in from..to.min(self.comps.len()) {
                    self.crash_comp(c);
                    let at = t + after_ms + self.rng.below(spread_ms + 1);
                    let i = self.plan.faults.len();
                    self.plan.faults.push((at, Fault::CompRestart(c)));
                    self.push_fault(at, i as u32);
                }
            }
            Fault::AdminRevoke(c) | Fault::AdminRelease(c) => {
                let Some(m) = self.any_up_manager() else {
                    return;
                };
                if c >= self.comps.len() {
                    return;
                }
                let held = self.comps[c].agent.as_ref().and_then(Agent::grant_id);
                let ok = match f {
                    Fault::AdminRevoke(_) => {
                        held.is_some_and(|g| self.mgrs[m].manager.revoke(g).is_ok())
                    }
                    _ => self.mgrs[m]
                        .manager
                        .admin_release(&self.comps[c].req.instance)
                        .is_ok(),
                };
                // I1 accounting: an operator override frees the slot of a
                // component that may still run; it leaves the count until it
                // holds a new grant (see README of the sim). An agent that
                // lost its grant id (a 404 met) holds no slot either: its
                // last grant marks the one a new grant must differ from.
                if ok && self.comps[c].running {
                    self.comps[c].forfeited = held.or(self.comps[c].last_granted);
                    self.recount(c);
                }
                // The override frees the instance, so it covers a twin still
                // running on it (cut off, it cannot hear of it) as well.
                if let Some(d) = self.twin_of(c).filter(|d| ok && self.comps[*d].running) {
                    self.comps[d].forfeited = held.or(self.comps[d].last_granted);
                    self.recount(d);
                }
                if ok && self.comps[c].crashed {
                    self.held_until_at_crash.insert(c, t);
                }
            }
            Fault::ClockStep(host, delta) => match host {
                Host::Comp(c) => {
                    if c < self.comps.len() {
                        self.comps[c].clock.step(t, delta);
                        self.comps[c].chain = true;
                        self.comps[c].wall_shift_ms += delta;
                        self.comps[c].blurred = true;
                        self.allow_blind_time(c);
                        self.schedule_wake(c);
                    }
                }
                Host::Mgr(m) => self.mgrs[m].clock.step(t, delta),
                Host::Db => {
                    self.check_clock_record(false);
                    self.db_clock_stepped(delta);
                    self.db_clock.step(t, delta);
                    self.db_steps.0 += 1;
                    self.db_steps.1 += delta;
                    self.db_step_sizes_ms += delta.unsigned_abs();
                    self.db_step_unread = [true; 2];
                }
            },
            Fault::Suspend(c) | Fault::Pause(c) => {
                if c < self.comps.len() {
                    let comp = &mut self.comps[c];
                    if matches!(f, Fault::Pause(_)) {
                        comp.clock.pause(t);
                        comp.paused_at = Some(t);
                    } else {
                        comp.clock.suspend(t);
                    }
                    comp.guard = None;
                    comp.deferred = None;
                    comp.token += 1;
                    comp.wake_at = None;
                    self.recount(c);
                }
            }
            Fault::Resume(c) => {
                if c < self.comps.len() && self.comps[c].clock.is_suspended() {
                    // After a VM pause only the wall clock tells: T2 has the
                    // agent confirm with every manager URL before it stops.
                    let paused = self.comps[c].clock.is_paused();
                    let confirm = if paused { self.confirm_round_ms() } else { 0 };
                    let allowance = self.comps[c]
                        .clock
                        .true_for_local(DRIVER_MAX_SLEEP_MS + confirm);
                    let comp = &mut self.comps[c];
                    comp.clock.resume(t);
                    comp.guard = None;
                    comp.deferred = None;
                    comp.last_resume = t;
                    comp.a3_resume_by = t + allowance + I2_SLACK_MS;
                    comp.chain = true;
                    comp.wall_ahead |= paused;
                    if let Some(from) = comp.paused_at.take() {
                        comp.paused_ms += t.saturating_sub(from);
                    }
                    comp.resumed_late = comp.running && t > comp.i2_base;
                    if comp.running {
                        // The real driver sleeps on the monotonic clock: after a
                        // resume it looks at the wall clock within max_sleep.
                        // After a pause its monotonic deadlines are late, and
                        // it finds any deadline on the wall clock within
                        // max_sleep and stops after one confirming request.
                        let base = if comp.wall_ahead {
                            comp.i2_base + allowance
                        } else {
                            comp.i2_base
                        };
                        comp.i2_allowed = base.max(t + allowance + I2_SLACK_MS);
                        let e = comp.i2_epoch;
                        let a = comp.i2_allowed;
                        self.i2_hints.push(Reverse((a + 1, c as u32, e)));
                    }
                    self.allow_blind_time(c);
                    self.recount(c);
                    self.schedule_wake(c);
                    let held = std::mem::take(&mut self.comps[c].held_answers);
                    for (gen_, id, resp) in held {
                        self.deliver(c as u32, gen_, id, resp);
                    }
                    for action in std::mem::take(&mut self.comps[c].on_resume) {
                        self.when_awake(c, action);
                    }
                }
            }
            Fault::Flapping(on) => self.flapping = on,
            Fault::ProxyAnswers { status, until_ms } => {
                self.proxy = Some((status, until_ms));
                self.trace_line(format_args!("proxy answers {status} until {until_ms}"));
            }
            Fault::ManagersRefuse {
                code,
                grants_only,
                until_ms,
            } => {
                self.refusing = Some((code, grants_only, until_ms));
                let code = code.as_str();
                self.trace_line(format_args!("managers refuse with {code} until {until_ms}"));
            }
            Fault::InstallLicense {
                not_after_ms,
                not_before_ms,
            } => {
                let lic = make_license(&self.plan, not_after_ms, Some(not_before_ms));
                let text = sign(&lic, &self.vendor).unwrap_or_else(|e| panic!("sign: {e}"));
                if let Some(m) = self.any_up_manager()
                    && self.mgrs[m]
                        .manager
                        .install_license(&text, InstallPolicy::Replace)
                        .is_ok()
                {
                    self.license = lic;
                    self.expiry_announced = false;
                }
            }
            Fault::Mark => {}
        }
    }

    /// I6 at a manager's death: every acknowledged grant is still in storage
    /// (held and renewed at least as late as acknowledged) or ended for a reason.
    pub(super) fn check_ledger(&mut self) {
        let ledger: Vec<(GrantId, i64)> = self.ledger.iter().map(|(k, v)| (*k, *v)).collect();
        let out = self.checker.transaction(&mut |tx| {
            let mut lost = Vec::new();
            for (id, at) in &ledger {
                match tx.grant(*id)? {
                    Some(h) if h.last_renewed.0 >= *at => {}
                    Some(_) => lost.push(*id),
                    None => {
                        if tx.end_reason(*id)?.is_none() {
                            lost.push(*id);
                        }
                    }
                }
            }
            Ok(lost)
        });
        if let Ok(lost) = out
            && let Some(first) = lost.first()
        {
            let msg = format!("{} acknowledged grants lost, e.g. {first}", lost.len());
            self.violate(6, msg);
        }
    }
}
