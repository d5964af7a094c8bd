//! The components: each a real `tenure_core::agent::Agent` driven as the
//! real driver drives it, its wake-ups, answers, successes and stops, and
//! I1's count of what runs.

use super::*;
use tenure_core::wire::EndReason;

impl World {
    /// Component `c`'s timer fires at `self.t` (if `token` is still its own).
    pub(super) fn wake(&mut self, c: u32, token: u64) {
        self.hash.u64(self.t ^ (1 << 60) ^ u64::from(c));
        let comp = &self.comps[c as usize];
        if comp.token != token || comp.crashed || comp.clock.is_suspended() {
            return;
        }
        if self.wake_storm(c as usize) {
            return;
        }
        let now = self.call_now(c as usize);
        self.comps[c as usize].wake_at = None;
        if let Some(a) = self.comps[c as usize].agent.as_mut() {
            a.handle_timeout(now);
        }
        self.after_agent(c as usize, None);
    }

    /// An answer reaches component `c` at `self.t`.
    pub(super) fn deliver(&mut self, c: u32, gen_: u32, id: RequestId, resp: Reply) {
        self.hash
            .u64(self.t ^ (4 << 60) ^ u64::from(c) ^ (id.0 << 20));
        if self.comps[c as usize].guard == Some((self.t, id)) && self.comps[c as usize].gen_ == gen_
        {
            // The answer comes now; the agent call below reschedules.
            let comp = &mut self.comps[c as usize];
            comp.guard = None;
            comp.deferred = None;
            comp.wake_at = None;
        }
        let comp = &mut self.comps[c as usize];
        if comp.gen_ != gen_ || comp.crashed {
            return;
        }
        if comp.clock.is_suspended() {
            comp.held_answers.push((gen_, id, resp));
            return;
        }
        let now = self.call_now(c as usize);
        let from_manager = matches!(resp, Reply::Full(_));
        let resp = resp.into_result();
        let resp = match (self.plan.bug, resp) {
            // The planted bug: a long grace period taken from the answer.
            (Some(Bug::LongAgentGrace), Ok(Response::Granted(mut g))) => {
                g.grace_period_s += 3600;
                Ok(Response::Granted(g))
            }
            (_, r) => r,
        };
        self.comps[c as usize].answer_from_manager = from_manager;
        let due = if from_manager {
            self.a4_due(c as usize, id, &resp)
        } else {
            None
        };
        self.comps[c as usize].a4_due = due;
        if from_manager && matches!(resp, Ok(Response::Error { body: Some(_), .. })) {
            self.comps[c as usize].held = None;
        }
        let granted = match &resp {
            Ok(Response::Granted(g)) => Some(g.grant_id),
            _ => None,
        };
        if let Some(a) = self.comps[c as usize].agent.as_mut() {
            a.handle_response(now, id, resp);
        }
        self.after_agent(c as usize, Some((id, granted)));
    }

    /// A suspended or paused host executes nothing, its supervisor and its
    /// operator's commands included: a start or stop due then waits for the
    /// resume. Starts due together start one process, and none while one
    /// runs.
    pub(super) fn when_awake(&mut self, c: usize, action: HostAction) {
        let comp = &mut self.comps[c];
        if comp.clock.is_suspended() {
            if comp.on_resume.last() != Some(&action) {
                comp.on_resume.push(action);
            }
            return;
        }
        match action {
            HostAction::Start if comp.agent.as_ref().is_none_or(|a| !a.is_running()) => {
                self.start_agent(c);
            }
            HostAction::Start => {}
            HostAction::Stop => self.stop_comp(c),
        }
    }

    pub(super) fn start_agent(&mut self, c: usize) {
        let seed = self.rng.next_u64();
        let comp = &mut self.comps[c];
        comp.crashed = false;
        comp.gen_ += 1;
        comp.forfeited = None;
        comp.resumed_late = false;
        comp.warned = 0;
        comp.blurred = false;
        comp.a3_resume_by = 0;
        comp.held_answers.clear();
        comp.wall_ahead = false;
        comp.wall_shift_ms = 0;
        comp.paused_ms = 0;
        comp.guard = None;
        comp.deferred = None;
        comp.inflight.clear();
        let mut cfg = self.config.clone();
        cfg.request = (*comp.req).clone();
        let now = comp.clock.now(self.t);
        comp.prev_now = Some(now);
        comp.prev_epoch = comp.clock.epoch();
        comp.expect_step = None;
        comp.held = None;
        comp.last_granted = None;
        comp.stopped_cleanly = false;
        comp.release_due = None;
        comp.agent = Some(Agent::new(cfg, now, seed));
        self.trace_line(format_args!("start c{c}"));
        self.after_agent(c, None);
        self.refresh_health_of(c);
    }

    /// The host stops component `c` cleanly (A5): a running agent moves to
    /// `Stopped`, releases the grant the component last heard granted, and
    /// sends nothing else from then on (checked in `send`).
    pub(super) fn stop_comp(&mut self, c: usize) {
        let t = self.t;
        let comp = &mut self.comps[c];
        if comp.crashed || comp.stopped_cleanly {
            return;
        }
        let now = comp.clock.now(t);
        let running = comp.running;
        let Some(agent) = comp.agent.as_mut() else {
            return;
        };
        agent.stop(now);
        let stopped = matches!(agent.state(), State::Stopped(_));
        comp.prev_now = Some(now);
        comp.prev_epoch = comp.clock.epoch();
        comp.expect_step = None;
        comp.stopped_cleanly = true;
        comp.release_due = comp.held.filter(|_| running);
        self.trace_line(format_args!("c{c} stopped by its host"));
        self.after_agent(c, None);
        if !stopped {
            let msg = format!("A5: c{c} was stopped by its host and its agent still runs");
            self.verdicts.fail_agent_rule(t, msg);
        }
        if let Some(g) = self.comps[c].release_due.take() {
            let msg = format!("A5: c{c} was stopped by its host without releasing {g}");
            self.verdicts.fail_agent_rule(t, msg);
        }
    }

    /// The host's clocks as the agent is called now, and the wall step T2
    /// must report in this call: the wall clock's move since the agent's
    /// previous call less the monotonic clock's, when it exceeds the
    /// `max_clock_skew` the simulator configured. Read from the simulated
    /// clocks themselves.
    // Inlined: it runs around every agent call, where a call's own cost
    // showed in the simulator's instruction count.
    #[inline(always)]
    fn call_now(&mut self, c: usize) -> Now {
        let skew_ms = self.config.max_clock_skew.as_millis();
        let comp = &mut self.comps[c];
        let now = comp.clock.now(self.t);
        let epoch = comp.clock.epoch();
        let steady = std::mem::replace(&mut comp.prev_epoch, epoch) == epoch;
        let stopped = comp
            .agent
            .as_ref()
            .is_none_or(|a| matches!(a.state(), State::Stopped(_)));
        comp.expect_step = match comp.prev_now.replace(now) {
            // Nothing moved the clocks apart since the previous call: what
            // the arithmetic below would find is rounding, under any skew.
            Some(_) if steady && skew_ms >= 1 => None,
            Some(prev) if !stopped => {
                // Whole milliseconds of the difference, in 64 bits: a
                // 128-bit division here ran twice per agent call.
                let mono = now.mono.saturating_sub(prev.mono);
                let mono_ms = i64::try_from(mono.as_secs())
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000)
                    .saturating_add(i64::from(mono.subsec_millis()));
                let step = now
                    .wall
                    .0
                    .saturating_sub(prev.wall.0)
                    .saturating_sub(mono_ms);
                (u128::from(step.unsigned_abs()) > skew_ms).then_some(step)
            }
            _ => None,
        };
        now
    }

    /// T2: the agent reported exactly the step its clocks took.
    fn step_reported(&mut self, c: usize, step_ms: Option<i64>) {
        let expected = self.comps[c].expect_step.take();
        if expected != step_ms {
            let msg = format!(
                "T2: c{c}'s wall clock stepped {expected:?} ms against its monotonic clock; the agent reported {step_ms:?}"
            );
            self.verdicts.fail_agent_rule(self.t, msg);
        }
    }

    pub(super) fn after_agent(&mut self, c: usize, answered: Option<(RequestId, Option<GrantId>)>) {
        let t = self.t;
        let mut transmits = std::mem::take(&mut self.scratch_tx);
        let mut events = std::mem::take(&mut self.scratch_ev);
        let (running, in_grace) = {
            let comp = &mut self.comps[c];
            let Some(agent) = comp.agent.as_mut() else {
                return;
            };
            while let Some(x) = agent.poll_transmit() {
                transmits.push((x.id, x.manager, Msg::from(x.request)));
            }
            while let Some(e) = agent.poll_event() {
                events.push(e);
            }
            comp.chain = false;
            (
                agent.is_running(),
                matches!(agent.state(), State::Grace { .. }),
            )
        };
        let answered_send = answered.and_then(|(id, _)| {
            let comp = &mut self.comps[c];
            let pos = comp.inflight.iter().position(|(i, _, _)| *i == id)?;
            let (_, sent, kind) = comp.inflight.swap_remove(pos);
            Some((sent, kind))
        });
        let a4_due = self.comps[c].a4_due.take();
        let heard = if events.is_empty() {
            Heard::default()
        } else {
            self.on_events(c, &mut events, answered, answered_send)
        };
        let Heard {
            started,
            rejected,
            stop,
        } = heard;
        self.check_a4(c, a4_due, rejected, stop);
        if self.comps[c].expect_step.is_some() {
            self.step_reported(c, None);
        }
        let was = self.comps[c].running;
        if running && !was && !started {
            self.violate(3, format!("c{c} is running without having started"));
        }
        if !in_grace
            && !running
            && let Some(since) = self.comps[c].grace_since.take()
        {
            self.grace_ms_total += t.saturating_sub(since);
        }
        self.comps[c].running = running;
        self.recount(c);
        for (id, m, req) in transmits.drain(..) {
            self.send(c, id, m, req);
        }
        self.scratch_tx = transmits;
        self.scratch_ev = events;
        self.schedule_wake(c);
    }

    /// The events of one agent call, in order. Out of line, and called
    /// only when there are any: most calls raise none, and with the
    /// handling of every kind inlined each call paid instructions for it.
    #[inline(never)]
    fn on_events(
        &mut self,
        c: usize,
        events: &mut Vec<Event>,
        answered: Option<(RequestId, Option<GrantId>)>,
        answered_send: Option<(u64, Kind)>,
    ) -> Heard {
        let t = self.t;
        let mut heard = Heard::default();
        for e in events.drain(..) {
            self.hash.u64(t ^ (10 << 60) ^ (c as u64));
            match e {
                Event::Started { grant_id }
                | Event::Renewed { grant_id }
                | Event::Regranted { grant_id }
                | Event::Recovered { grant_id } => {
                    let Some((sent, kind)) = answered_send else {
                        self.violate(
                            3,
                            format!("c{c}: success event {e:?} without an answer to a request"),
                        );
                        continue;
                    };
                    if matches!(e, Event::Started { .. }) {
                        heard.started = true;
                        // I3: only a grant the store acknowledged starts a component.
                        let acked = answered.and_then(|(_, g)| g) == Some(grant_id)
                            && self.ledger.contains_key(&grant_id)
                            && kind == Kind::Grant
                            && !self.comps[c].running;
                        if !acked {
                            self.violate(
                                3,
                                format!("c{c} started without an acknowledged grant ({kind:?})"),
                            );
                        }
                        self.comps[c].starts.push(t);
                        self.check_fresh_start(c, sent);
                    }
                    // A recovery in grace may come from a re-grant (after a
                    // 404): that claims the instance anew, as `Regranted` does.
                    let renewal = match e {
                        Event::Renewed { .. } => true,
                        Event::Recovered { .. } => kind == Kind::Renew,
                        _ => false,
                    };
                    if renewal {
                        self.renewals += 1;
                        self.check_i10(c, sent);
                    } else {
                        self.grants += 1;
                        let at = self.committed.get(&grant_id).copied().unwrap_or(t);
                        self.comps[c].claimed_at = Some(at);
                    }
                    self.success(c, sent, grant_id);
                    if !renewal {
                        self.replaced_twin(c);
                        self.granted_after_release(c, grant_id);
                    }
                    if matches!(e, Event::Recovered { .. })
                        && let Some(since) = self.comps[c].grace_since.take()
                    {
                        self.grace_ms_total += t.saturating_sub(since);
                    }
                }
                Event::GraceEntered { .. } => {
                    self.comps[c].grace_since = Some(t);
                    self.comps[c].entered_grace = true;
                    self.trace_line(format_args!("c{c} grace entered"));
                }
                Event::GraceOneDayLeft => self.warned(c, 1, DAY),
                Event::GraceOneHourLeft => self.warned(c, 2, HOUR),
                Event::ClockStepped { step_ms } => self.step_reported(c, Some(step_ms)),
                Event::Rejected { status, code } => heard.rejected = Some((status, code)),
                Event::MustStop(reason) => {
                    heard.stop = Some(reason);
                    self.stopped(c, reason);
                }
            }
        }
        heard
    }

    pub(super) fn success(&mut self, c: usize, sent: u64, grant_id: GrantId) {
        let t = self.t;
        self.comps[c].held = Some(grant_id);
        self.comps[c].last_granted = Some(grant_id);
        // I2's grace is the license's, as the plan issued it: never the one
        // the agent under test believes it was given.
        let grace_ms = self.plan.grace_ms();
        let comp = &mut self.comps[c];
        comp.last_ok_send = sent;
        comp.resumed_late = false;
        comp.warned = 0;
        comp.blurred = false;
        comp.a3_resume_by = 0;
        comp.wall_ahead = false;
        comp.wall_shift_ms = 0;
        comp.paused_ms = 0;
        comp.grace_ms = grace_ms;
        // A clock running slow measures less than true time: allow for its rate (I2).
        let ppm = comp.clock.ppm().min(0).unsigned_abs();
        let slow =
            (u128::from(comp.grace_ms) * u128::from(ppm)).div_ceil(1_000_000 - u128::from(ppm));
        comp.i2_base = sent + comp.grace_ms + u64::try_from(slow).unwrap_or(0) + I2_SLACK_MS;
        comp.i2_allowed = comp.i2_base;
        comp.i2_epoch += 1;
        if comp.forfeited.is_some_and(|g| g != grant_id) {
            comp.forfeited = None;
        }
        comp.best_window = 0;
        if comp.healthy_since.is_some() {
            comp.healthy_since = Some(t);
        }
        if let Some(f) = comp.i5_pending.take() {
            // From the first attempt after the failover to this success.
            let from = comp.i5_attempt.take().unwrap_or(f).max(f);
            if sent >= f {
                let gap = t.saturating_sub(from);
                self.worst_gap = Some(self.worst_gap.unwrap_or(0).max(gap));
            }
        }
        let (allowed, epoch) = (comp.i2_allowed, comp.i2_epoch);
        self.i2_hints.push(Reverse((allowed + 1, c as u32, epoch)));
    }

    /// A3: the host hears `left` is all that remains of its grace no later
    /// than I2's deadline less `left` (the same allowance for a slow clock
    /// and for faults), or, when it slept through that instant, no later
    /// than it has looked at its clocks again.
    fn warned(&mut self, c: usize, bit: u8, left: u64) {
        let comp = &mut self.comps[c];
        comp.warned |= bit;
        let due = comp.i2_allowed.saturating_sub(left).max(comp.a3_resume_by);
        if !comp.blurred && self.t > due {
            let late = self.t - due;
            let msg = format!("A3: c{c} told of its last {left} ms of grace {late} ms late");
            self.verdicts.fail_agent_rule(self.t, msg);
        }
        // Nor early: not before the plan's grace less `left` has passed
        // since the last success, measured as fast as this host's clock
        // runs (a fast clock counts true time out sooner).
        let comp = &self.comps[c];
        let soonest = soonest_left(comp, left);
        if !comp.blurred && self.t + I2_SLACK_MS < soonest {
            let early = soonest - self.t;
            let msg = format!("A3: c{c} told of its last {left} ms of grace {early} ms early");
            self.verdicts.fail_agent_rule(self.t, msg);
        }
        self.check_grace_left(c);
    }

    /// A1 with T1: a component starts only on a grant still fresh when its
    /// answer arrives, less than the plan's lease after the request was
    /// sent (counted as slowly as its clock may run). An answer the kernel
    /// kept while the host was paused, its monotonic clock stopped, comes
    /// when only the wall clock shows the lease has passed: starting on it
    /// would start in grace, on a slot the manager may have freed.
    fn check_fresh_start(&mut self, c: usize, sent: u64) {
        let comp = &self.comps[c];
        if comp.blurred {
            return;
        }
        let ttl = self.plan.lease_ttl_s * SEC;
        let ppm = comp.clock.ppm().min(0).unsigned_abs();
        let slow = (u128::from(ttl) * u128::from(ppm)).div_ceil(1_000_000 - u128::from(ppm));
        let latest = sent + ttl + u64::try_from(slow).unwrap_or(u64::MAX) + I2_SLACK_MS;
        if self.t > latest {
            let late = self.t - sent;
            let msg = format!(
                "A1: c{c} started on an answer that came {late} ms after its request; the lease is {ttl} ms"
            );
            self.verdicts.fail_agent_rule(self.t, msg);
        }
    }

    /// The grace left that the agent shows its host (`Lease::grace_left`,
    /// what a vendor prints on a status page) is some, and no more than is
    /// truly left before the plan's deadline.
    fn check_grace_left(&mut self, c: usize) {
        let comp = &self.comps[c];
        let (Some(now), Some(State::Grace { lease, .. })) =
            (comp.prev_now, comp.agent.as_ref().map(Agent::state))
        else {
            return;
        };
        if comp.blurred {
            return;
        }
        let shown = u64::try_from(lease.grace_left(&now).as_millis()).unwrap_or(u64::MAX);
        let truly = comp.i2_allowed.saturating_sub(self.t);
        if shown == 0 || shown > truly {
            let msg = format!(
                "A3: c{c} in grace shows {shown} ms of grace left, {truly} ms are left by the plan"
            );
            self.verdicts.fail_agent_rule(self.t, msg);
        }
    }

    /// A3: a host stopped at its grace deadline was told of the last day
    /// and the last hour first, when its grace was longer than those.
    fn check_warned_before_stop(&mut self, c: usize) {
        let comp = &self.comps[c];
        // A host that woke when its own clocks could already say grace was
        // over may stop before it warns.
        if comp.blurred || comp.a3_resume_by >= soonest_left(comp, 0) {
            return;
        }
        for (bit, left, name) in [(1, DAY, "day"), (2, HOUR, "hour")] {
            if self.plan.grace_ms() > left && comp.warned & bit == 0 {
                let msg =
                    format!("A3: c{c} stopped for grace without being told of its last {name}");
                self.verdicts.fail_agent_rule(self.t, msg);
                return;
            }
        }
    }

    pub(super) fn stopped(&mut self, c: usize, reason: StopReason) {
        let t = self.t;
        self.check_refusal_fits(c, reason);
        if reason == StopReason::GraceExpired {
            self.check_warned_before_stop(c);
        }
        *self.stops.entry(reason_label(reason)).or_default() += 1;
        let comp = &mut self.comps[c];
        let deadline = comp.last_ok_send + comp.grace_ms;
        let fast = u64::try_from(comp.clock.ppm().max(0)).unwrap_or(0);
        let early = comp.grace_ms * fast / 1_000_000 + 1;
        let (from_manager, reachable) = (comp.answer_from_manager, comp.healthy_since.is_some());
        self.check_i9(
            c,
            reason,
            deadline.saturating_sub(early),
            from_manager,
            reachable,
        );
        let comp = &mut self.comps[c];
        comp.stops.push(StopRec {
            t,
            earliest: deadline.saturating_sub(early),
            reason,
            deadline,
            allowed: comp.i2_allowed,
        });
        let due = comp.i2_base.max(comp.last_resume);
        if reason == StopReason::GraceExpired && t > due {
            self.max_resume_overrun = self.max_resume_overrun.max(t - due);
        }
        let comp = &mut self.comps[c];
        let window = comp
            .healthy_since
            .map_or(0, |s| t.saturating_sub(s))
            .max(comp.best_window);
        self.trace_line(format_args!("c{c} stop {reason:?}"));
        if reason == StopReason::GraceExpired && window >= self.i4_window() {
            self.violate(
                4,
                format!(
                    "c{c} stopped for grace although managers were reachable for {} s in a row",
                    window / SEC
                ),
            );
        }
        if let Some(after) = self.plan.restart_after_stop_ms {
            let at = t + after + self.rng.below(after / 10 + 1);
            let gen_ = self.comps[c].gen_;
            self.push(at, Ev::Restart { c: c as u32, gen_ });
        }
    }

    /// M1 from the other side: a component within the license's cores per
    /// server, in a plan with no limit on total cores, is never refused
    /// for cores.
    fn check_refusal_fits(&mut self, c: usize, reason: StopReason) {
        let cores = u64::from(self.comps[c].req.facts.cores);
        let fits = self
            .plan
            .max_cores_per_server
            .is_none_or(|cap| cores <= cap);
        if reason
            == (StopReason::Denied {
                code: ErrorCode::CoresExceeded,
            })
            && fits
            && self.plan.max_total_cores.is_none()
        {
            let msg = format!("M1: c{c} refused for its {cores} cores, which every limit allows");
            self.verdicts.fail_manager_rule(self.t, msg);
        }
    }

    /// I1: component `c` leaves the count when the store ended `g`, the
    /// grant it runs on, for grace (`unseen_step`, `blind_time`).
    pub(super) fn forfeit_if_reclaimed(&mut self, c: usize, g: GrantId) -> bool {
        let ended = self.checker.transaction(&mut |tx| tx.end_reason(g));
        if !matches!(ended, Ok(Some(EndReason::GraceExceeded))) {
            return false;
        }
        self.comps[c].forfeited = Some(g);
        self.recount(c);
        true
    }

    // Inlined: it runs around every agent call, where a call's own cost
    // showed in the simulator's instruction count.
    #[inline(always)]
    pub(super) fn recount(&mut self, c: usize) {
        let comp = &self.comps[c];
        // A suspended host executes nothing; a host that resumed past its
        // grace deadline is inside the driver's max_sleep window (reported,
        // and bounded by I2), not counted as a licensed user.
        let counted = comp.running
            && !comp.crashed
            && comp.forfeited.is_none()
            && !comp.clock.is_suspended()
            && !comp.resumed_late;
        if counted != comp.counted {
            // Twins claim one instance, so they hold one slot between them:
            // the pair counts once while either runs (I10 bounds their
            // overlap).
            let twin_counted = self.twin_of(c).is_some_and(|d| self.comps[d].counted);
            self.comps[c].counted = counted;
            if twin_counted {
                return;
            }
            let cores = u64::from(self.comps[c].req.facts.cores);
            if counted {
                self.servers += 1;
                self.cores += cores;
                if let Some(cap) = self.plan.max_cores_per_server
                    && cores > cap
                {
                    let msg = format!("c{c} runs on {cores} cores, max_cores_per_server {cap}");
                    self.violate(1, msg);
                }
            } else {
                self.servers -= 1;
                self.cores -= cores;
            }
        }
    }

    /// I1: an operator released the instance (or revoked the grant) after
    /// storage committed grant `g` and before its answer reached component
    /// `c`, which then starts on a grant already ended, its slot free. It
    /// runs as one whose slot an operator released: out of the count until
    /// it holds a new grant.
    fn granted_after_release(&mut self, c: usize, g: GrantId) {
        let ended = self.checker.transaction(&mut |tx| tx.end_reason(g));
        if matches!(
            ended,
            Ok(Some(EndReason::AdminReleased | EndReason::Revoked))
        ) {
            self.comps[c].forfeited = Some(g);
        }
    }

    /// Twins claim one instance (M3): the claim the managers committed last
    /// holds its slot, and the other twin runs on a replaced grant until its
    /// next renewal is refused (I10 bounds that), no longer counted, as one
    /// whose slot an operator released: when the newer twin stops and
    /// releases, the slot is free although the older may still run.
    fn replaced_twin(&mut self, c: usize) {
        let Some(d) = self.twin_of(c) else {
            return;
        };
        let older = if self.comps[d].claimed_at < self.comps[c].claimed_at {
            d
        } else {
            c
        };
        if older == c || self.comps[d].running {
            self.comps[older].forfeited = self.comps[older].last_granted;
            self.recount(older);
        }
    }

    /// The plan's twin of component `c`, if it has one.
    pub(super) fn twin_of(&self, c: usize) -> Option<usize> {
        self.plan
            .twins
            .iter()
            .find_map(|&(a, b)| match (a == c, b == c) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            })
    }

    // Inlined: it runs around every agent call, where a call's own cost
    // showed in the simulator's instruction count.
    #[inline(always)]
    pub(super) fn schedule_wake(&mut self, c: usize) {
        let t = self.t;
        let comp = &mut self.comps[c];
        let Some(agent) = comp.agent.as_ref() else {
            comp.wake_at = None;
            return;
        };
        let Some(mut target) = agent.poll_timeout() else {
            comp.wake_at = None;
            return;
        };
        if comp.chain || comp.wall_ahead {
            let now_mono = comp.clock.now_mono_ns(t);
            // The monotonic reading of the agent's last call: the one it
            // was handed, kept in `prev_now`.
            let last = comp
                .prev_now
                .map_or(0, |n| u64::try_from(n.mono.as_nanos()).unwrap_or(u64::MAX));
            let step = DRIVER_MAX_SLEEP_MS * 1_000_000;
            let k = now_mono.saturating_sub(last) / step + 1;
            let next = last.saturating_add(k * step);
            target = target.min(Duration::from_nanos(next));
        }
        let Some(at) = comp.clock.true_at_mono(t, target) else {
            comp.wake_at = None;
            return;
        };
        let at = at.max(t + 1);
        if let Some((g, _)) = comp.guard
            && at >= g
        {
            // An answer is sure to come first and will reschedule.
            comp.token += 1;
            comp.wake_at = None;
            comp.deferred = Some(at);
            return;
        }
        comp.deferred = None;
        if comp.wake_at != Some(at) {
            self.stash_wake(c, at);
        }
    }
}

/// The soonest true instant at which `c`'s agent may find only `left` of
/// its grace remains: the plan's grace less `left` after its last success,
/// counted as fast as its clock runs (a fast clock counts true time out
/// sooner).
fn soonest_left(comp: &Comp, left: u64) -> u64 {
    let fast = u128::try_from(comp.clock.ppm().max(0)).unwrap_or(0);
    let before = u128::from(comp.grace_ms.saturating_sub(left));
    comp.last_ok_send + u64::try_from(before * 1_000_000 / (1_000_000 + fast)).unwrap_or(u64::MAX)
}

/// What the events of one agent call said, for the checks after it.
#[derive(Default)]
struct Heard {
    /// The call started the component.
    started: bool,
    /// The 4xx the agent reported (A4).
    rejected: Option<(u16, ErrorCode)>,
    /// Why the agent stopped, if it did.
    stop: Option<StopReason>,
}
