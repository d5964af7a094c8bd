//! Answers and wake-ups delivered inline, at their own arrival time, when
//! nothing can tell the difference from an ordinary event: the swarm's speed.

use super::*;

impl World {
    /// Settles the answer set aside by `reply` during this event: delivered
    /// now, at its own arrival time, if nothing can tell the difference;
    /// otherwise queued as an ordinary event.
    pub(super) fn settle_inline(&mut self) {
        loop {
            if let Some(f) = self.inline.take() {
                if self.can_deliver_inline(&f) {
                    let t = self.t;
                    self.t = f.at;
                    self.events += 1;
                    self.inline_answers += 1;
                    self.deliver(f.c, f.gen_, f.id, f.resp);
                    self.t = t;
                } else {
                    let Inline {
                        at,
                        seq,
                        c,
                        gen_,
                        id,
                        resp,
                    } = f;
                    // In the place it would have had, had it been queued at once.
                    self.push_reserved(at, seq, Ev::ToComp { c, gen_, id, resp });
                }
            } else if let Some(w) = self.inline_wake.take() {
                if self.can_wake_inline(&w) {
                    let t = self.t;
                    self.t = w.at;
                    self.events += 1;
                    self.inline_wakes += 1;
                    self.wake(w.c, w.token);
                    self.t = t;
                } else {
                    let ev = Ev::Wake {
                        c: w.c,
                        token: w.token,
                    };
                    self.push_reserved(w.at, w.seq, ev);
                }
            } else {
                break;
            }
        }
    }

    /// Running wake-up `w` now (at `self.t`) instead of at `w.at` changes
    /// nothing any other event or check can see, by the argument of
    /// `can_deliver_inline`: until `w.at` nothing else happens to the
    /// component, the balancer it may send to cannot change its mind, and the
    /// wake-up changes nothing others read of it: the agent neither stops nor
    /// enters grace then (read from its own lease: `Lease::elapsed` at the
    /// instant it will be handed), so it stays running or starting, counted
    /// or not as before; it may send a request (which goes through `reply`
    /// and `can_deliver_inline` in turn). During an outage a component's
    /// retries thus run one after another within one event, until a fault,
    /// an I2 deadline or its own grace deadline comes near.
    pub(super) fn can_wake_inline(&self, w: &InlineWake) -> bool {
        let a = w.at;
        let t = self.t;
        let comp = &self.comps[w.c as usize];
        if comp.token != w.token
            || comp.wake_at != Some(a)
            || comp.crashed
            || comp.clock.is_suspended()
            || comp.msgs != 0
            || comp.guard.is_some()
            || a > self.plan.end_ms
            || a >= self.lb_stable_until()
            || self.plan.liveness_at.is_some_and(|l| l >= t && l <= a)
            || self
                .i2_hints
                .peek()
                .is_some_and(|Reverse((h, _, _))| *h <= a)
        {
            return false;
        }
        let Some(agent) = comp.agent.as_ref() else {
            return false;
        };
        let now = comp.clock.now(a);
        match agent.state() {
            State::Starting => true,
            // `Lease::elapsed` in nanoseconds, without the `Duration` it
            // builds: this runs before every inline wake-up.
            State::Licensed { lease } => {
                now.elapsed_nanos_since(&lease.since)
                    < lease.lease_ttl.min(lease.grace_period).as_nanos()
            }
            State::Grace { lease, .. } => {
                now.elapsed_nanos_since(&lease.since) < lease.grace_period.as_nanos()
            }
            State::Confirming { .. } | State::Stopped(_) => false,
        }
    }

    /// Delivering answer `f` now (at `self.t`) instead of at `f.at` changes
    /// nothing any other event or check can see, because until `f.at`:
    /// - nothing else happens to component `c`: no fault, liveness check or
    ///   I2 deadline is due (I2 is checked at its exact instant, see
    ///   `check_i2`), no other message to or from `c` is in flight, and its
    ///   own next wake-up is later (2 ms margin: the agent's deadlines are
    ///   measured on the larger of its monotonic and wall clocks, which can
    ///   round 1 ms apart);
    /// - anything the answer makes `c` send meets the same balancer, whose
    ///   state cannot change before `f.at`;
    /// - what other events read of `c` does not change: a 503 from the
    ///   balancer (a retry, whatever the agent's state) or a renewal of a
    ///   component counted as running (it stays counted, so I1 sees the same
    ///   totals). Refusals, first grants and everything else go through the
    ///   queue.
    ///
    /// Every random draw happens where it did, and an answer that is queued
    /// after all takes the place in the queue it would have had. What can
    /// differ is the order among events of other components at one and the
    /// same millisecond (the component's next wake-up is queued earlier),
    /// hence which of them draws which random delay; that is still one
    /// seed, one run.
    pub(super) fn can_deliver_inline(&self, f: &Inline) -> bool {
        let a = f.at;
        let t = self.t;
        let comp = &self.comps[f.c as usize];
        let kind_ok = match &f.resp {
            Reply::LbUnavailable => true,
            // A proxy's page may stop an agent under the planted bug: queued.
            Reply::Proxy(_) => false,
            Reply::Full(r) => {
                matches!(**r, Ok(Response::Granted(_))) && comp.counted && comp.running
            }
        };
        kind_ok
            && a <= self.plan.end_ms
            && a < self.lb_stable_until()
            && self.plan.liveness_at.is_none_or(|l| l < t || l > a)
            && self.i2_hints.peek().is_none_or(|Reverse((h, _, _))| *h > a)
            && comp.gen_ == f.gen_
            && !comp.crashed
            && !comp.clock.is_suspended()
            && comp.agent.is_some()
            && comp.msgs == 0
            && comp.wake_at.or(comp.deferred).is_none_or(|w| w > a + 2)
    }
}
