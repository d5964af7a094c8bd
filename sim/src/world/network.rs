//! The network: links with delay, jitter, loss and duplication, the
//! HAProxy-like balancer in front of the managers, and a proxy that answers
//! its own pages.

use super::*;

/// More requests than this from one component within one true second is a
/// storm (A2). A sound agent sends at most one per manager URL at once (a
/// T2 confirmation round), then backs off from `initial` up; this is ten
/// times that and more, and a zero backoff passes it within milliseconds.
const STORM_REQUESTS_PER_SECOND: u32 = 20;

/// More wake-ups than this of one component within one true second: its
/// timer does not advance. Sound agents are woken about once a second (the
/// driver's cap) and once per answer; the simulator wakes an agent at
/// most once a millisecond, so a stuck timer reaches 1,000.
const STORM_WAKES_PER_SECOND: u32 = 100;

/// Counts one more in `counter`'s true second, starting over in a new one.
fn count_in_second(counter: &mut (u64, u32), t: u64) -> u32 {
    let second = t / SEC;
    if counter.0 == second {
        counter.1 += 1;
    } else {
        *counter = (second, 1);
    }
    counter.1
}

impl World {
    /// A2 fails and the run ends.
    fn storm(&mut self, msg: String) {
        self.verdicts.fail_agent_rule(self.t, format!("A2: {msg}"));
        self.storming = true;
    }

    /// Counts a wake-up of `c`; true (and the run fails A2) in a storm.
    pub(super) fn wake_storm(&mut self, c: usize) -> bool {
        let t = self.t;
        if count_in_second(&mut self.comps[c].woken_in_second, t) <= STORM_WAKES_PER_SECOND {
            return false;
        }
        let msg = format!(
            "c{c} was woken over {STORM_WAKES_PER_SECOND} times within one second: its timer does not advance"
        );
        self.storm(msg);
        true
    }

    // Inlined: every message draws its fate here.
    #[inline(always)]
    pub(super) fn sample(&mut self, link: Link) -> [Option<u64>; 2] {
        if self.rng.chance_ppm(link.loss_ppm) {
            return [None, None];
        }
        let first = link.delay_ms + self.rng.below(link.jitter_ms + 1);
        let dup = self
            .rng
            .chance_ppm(link.dup_ppm)
            .then(|| link.delay_ms + self.rng.below(link.jitter_ms * 4 + 2));
        [Some(first), dup]
    }

    /// Component `c` sends `req` to manager URL `m` (always 0 behind the
    /// balancer).
    pub(super) fn send(&mut self, c: usize, id: RequestId, m: usize, req: Msg) {
        let t = self.t;
        let kind = req.kind();
        let comp = &mut self.comps[c];
        if comp.stopped_cleanly {
            match &req {
                Msg::Release { grant_id } if comp.release_due == Some(*grant_id) => {
                    comp.release_due = None;
                }
                Msg::Release { .. } => {}
                _ => {
                    let msg = format!("A5: c{c} sent a {kind:?} after its host stopped it");
                    self.verdicts.fail_agent_rule(t, msg);
                }
            }
        }
        let comp = &mut self.comps[c];
        comp.inflight
            .retain(|(_, s, _)| t.saturating_sub(*s) < 120 * SEC);
        comp.inflight.push((id, t, kind));
        if kind != Kind::Release {
            comp.last_ask = Some((id, t));
        }
        if count_in_second(&mut comp.sent_in_second, t) > STORM_REQUESTS_PER_SECOND {
            let msg = format!(
                "c{c} sent over {STORM_REQUESTS_PER_SECOND} requests within one second: no backoff holds them"
            );
            self.storm(msg);
            return;
        }
        if kind != Kind::Release {
            comp.guard = None;
            if comp.i5_pending.is_some() && comp.i5_attempt.is_none() {
                comp.i5_attempt = Some(t);
            }
        }
        if comp.up_blocked {
            self.note_unserved(c);
            return;
        }
        let gen_ = comp.gen_;
        if self.plan.direct {
            return self.direct_to(c, gen_, id, m, req, kind);
        }
        let link = self.plan.comp_link;
        let [first, dup] = self.sample(link);
        self.note_loss(c, first);
        if let Some(d) = dup {
            self.push(
                t + d,
                Ev::ToLb {
                    c: c as u32,
                    gen_,
                    id,
                    req: req.clone(),
                },
            );
        }
        if let Some(d) = first {
            let guard = kind != Kind::Release && self.lossless();
            if t + d < self.lb_stable_until() {
                // Nothing can change the balancer's mind before the request
                // reaches it: route it now and save an event.
                self.at_lb(c as u32, gen_, id, req, d, guard);
            } else {
                self.push(
                    t + d,
                    Ev::ToLb {
                        c: c as u32,
                        gen_,
                        id,
                        req,
                    },
                );
            }
        }
    }

    /// Without a balancer: the request goes straight to manager `m`, as a
    /// driver sends it to its `m`-th URL. An index past the URLs is a
    /// connection error, as in the real driver; a cut path (`LbCut`'s
    /// `to_mgr`) is refused after the link's delay.
    fn direct_to(&mut self, c: usize, gen_: u32, id: RequestId, m: usize, req: Msg, kind: Kind) {
        let c32 = c as u32;
        let guard = kind != Kind::Release && self.lossless();
        let [first, dup] = self.sample(self.plan.comp_link);
        self.note_loss(c, first);
        if m >= self.mgrs.len() || self.lb_to_mgr[m] {
            self.note_unserved(c);
            if let Some(d) = first {
                let refused = Reply::Full(Box::new(Err(TransportError::Connect)));
                self.reply(c32, gen_, id, refused, d, guard);
            }
            return;
        }
        let m8 = m as u8;
        if let Some(d) = dup {
            let req = req.clone();
            self.push(
                self.t + d,
                Ev::ToMgr {
                    m: m8,
                    c: c32,
                    gen_,
                    id,
                    req,
                },
            );
        }
        if let Some(d) = first {
            let at = self.t + d;
            self.push(
                at,
                Ev::ToMgr {
                    m: m8,
                    c: c32,
                    gen_,
                    id,
                    req,
                },
            );
            if guard {
                self.set_guard(c, at, id);
            }
        }
    }

    /// No loss and no duplication anywhere: every message sent arrives once.
    pub(super) fn lossless(&self) -> bool {
        let l = [
            self.plan.comp_link,
            self.plan.mgr_link[0],
            self.plan.mgr_link[1],
        ];
        l.iter().all(|x| x.loss_ppm == 0 && x.dup_ppm == 0)
    }

    /// The load balancer's state cannot change before this instant.
    pub(super) fn lb_stable_until(&self) -> u64 {
        let f = self.pending_faults.peek().map_or(u64::MAX, |Reverse(t)| *t);
        if self.lb_down_until_fault() {
            return f;
        }
        self.next_check[0].min(self.next_check[1]).min(f)
    }

    /// Both backends are down and no health check can bring one up before a
    /// fault: each is down in the manager (crashed or hung) or cut from the
    /// balancer, which only faults change (see `lb_check`).
    pub(super) fn lb_down_until_fault(&self) -> bool {
        (0..2).all(|m| {
            !self.lb[m].up
                && (self.mgrs[m].status != MgrStatus::Up || self.lb_to_mgr[m] || self.mgr_to_lb[m])
        })
    }

    /// An answer leaves for component `c`, `extra` ms from now. `guard`: it
    /// is the answer to the request in flight and will surely arrive, so the
    /// agent's request-timeout wake-up need not be scheduled.
    pub(super) fn reply(
        &mut self,
        c: u32,
        gen_: u32,
        id: RequestId,
        resp: Reply,
        extra: u64,
        guard: bool,
    ) {
        if self.comps[c as usize].down_blocked {
            self.note_unserved(c as usize);
            if guard {
                self.release_guard(c as usize);
            }
            return;
        }
        let link = self.plan.comp_link;
        let [first, dup] = self.sample(link);
        self.note_loss(c as usize, first);
        if let Some(d) = dup {
            self.push(
                self.t + extra + d,
                Ev::ToComp {
                    c,
                    gen_,
                    id,
                    resp: resp.clone(),
                },
            );
        }
        match first {
            Some(d) => {
                let at = self.t + extra + d;
                if dup.is_none() && self.inline.is_none() {
                    // Decided at the end of the event (`settle_inline`).
                    let seq = self.queue.reserve();
                    self.inline = Some(Inline {
                        at,
                        seq,
                        c,
                        gen_,
                        id,
                        resp,
                    });
                } else {
                    self.push(at, Ev::ToComp { c, gen_, id, resp });
                }
                if guard {
                    self.set_guard(c as usize, at, id);
                }
            }
            None if guard => self.release_guard(c as usize),
            None => {}
        }
    }

    /// A message that leads to an agent call is due at `at`: a wake-up at or
    /// after it is deferred until then.
    pub(super) fn set_guard(&mut self, c: usize, at: u64, id: RequestId) {
        let comp = &mut self.comps[c];
        comp.guard = Some((at, id));
        if let Some(w) = comp.deferred
            && w < at
        {
            comp.deferred = None;
            self.push_wake(c, w);
        }
    }

    /// The guarded message will not come: schedule the deferred wake-up.
    pub(super) fn release_guard(&mut self, c: usize) {
        let comp = &mut self.comps[c];
        comp.guard = None;
        if let Some(w) = comp.deferred.take() {
            let w = w.max(self.t + 1);
            self.push_wake(c, w);
        }
    }

    /// Like `push_wake`, but set aside for `settle_inline`, which may run
    /// it within this event.
    pub(super) fn stash_wake(&mut self, c: usize, at: u64) {
        if self.inline_wake.is_some() {
            self.push_wake(c, at);
            return;
        }
        let comp = &mut self.comps[c];
        comp.token += 1;
        comp.wake_at = Some(at);
        let token = comp.token;
        let seq = self.queue.reserve();
        self.inline_wake = Some(InlineWake {
            at,
            seq,
            c: c as u32,
            token,
        });
    }

    pub(super) fn push_wake(&mut self, c: usize, at: u64) {
        let comp = &mut self.comps[c];
        comp.token += 1;
        comp.wake_at = Some(at);
        let token = comp.token;
        self.push(at, Ev::Wake { c: c as u32, token });
    }

    pub(super) fn lb_target(&mut self) -> Option<usize> {
        let up = [self.lb[0].up, self.lb[1].up];
        if self.flapping && up[0] && up[1] {
            return Some(usize::try_from(self.rng.below(2)).unwrap_or(0));
        }
        if up[0] {
            Some(0)
        } else if up[1] {
            Some(1)
        } else {
            None
        }
    }

    /// The balancer receives a request `d` ms from now (0: now).
    pub(super) fn at_lb(
        &mut self,
        c: u32,
        gen_: u32,
        id: RequestId,
        req: Msg,
        d: u64,
        guard: bool,
    ) {
        if let Some((status, until)) = self.proxy
            && self.t < until
        {
            let answer = self.proxy_answer(status, id);
            return self.reply(c, gen_, id, Reply::Proxy(Box::new(answer)), d, guard);
        }
        let target = self.lb_target();
        if target.is_none_or(|m| self.lb_to_mgr[m]) {
            self.note_unserved(c as usize);
        }
        match target {
            None => self.reply(c, gen_, id, Reply::LbUnavailable, d, guard),
            Some(m) if self.lb_to_mgr[m] => self.reply(
                c,
                gen_,
                id,
                Reply::LbUnavailable,
                d + LB_CONNECT_TIMEOUT_MS,
                guard,
            ),
            Some(m) => {
                let link = self.plan.mgr_link[m];
                let [first, dup] = self.sample(link);
                self.note_loss(c as usize, first);
                if let Some(d2) = dup {
                    self.push(
                        self.t + d + d2,
                        Ev::ToMgr {
                            m: m as u8,
                            c,
                            gen_,
                            id,
                            req: req.clone(),
                        },
                    );
                }
                match first {
                    Some(d2) => {
                        let at = self.t + d + d2;
                        self.push(
                            at,
                            Ev::ToMgr {
                                m: m as u8,
                                c,
                                gen_,
                                id,
                                req,
                            },
                        );
                        if guard {
                            self.set_guard(c as usize, at, id);
                        }
                    }
                    None if guard => self.release_guard(c as usize),
                    None => {}
                }
            }
        }
    }

    /// A proxy's own page with `status`, decoded by the agent's own decoder
    /// (A4): HTML, or (every other request) a body that reads like a
    /// Tenure error but is not typed `application/json`, as a WAF that
    /// mirrors what it blocked sends. Under the planted bug a 403 page is
    /// taken for `revoked`.
    pub(super) fn proxy_answer(
        &self,
        status: u16,
        id: RequestId,
    ) -> Result<Response, TransportError> {
        let (media, page): (&[u8], &[u8]) = if id.0.is_multiple_of(2) {
            (
                b"text/html; charset=utf-8",
                b"<html><head><title>Access denied</title></head><body>Blocked by policy</body></html>",
            )
        } else {
            (
                b"text/plain",
                br#"{"error":"revoked","message":"blocked by policy"}"#,
            )
        };
        let decoded = Response::decode(status, Some(media), None, page);
        match (self.plan.bug, decoded) {
            (Some(Bug::ProxyAnswerDecides), Ok(Response::Error { status: 403, .. })) => {
                Ok(Response::Error {
                    status: 403,
                    body: Some(ErrorBody::new(ErrorCode::Revoked, "revoked")),
                    retry_after: None,
                })
            }
            (_, r) => r,
        }
    }

    pub(super) fn at_mgr(&mut self, m: usize, c: u32, gen_: u32, id: RequestId, req: Msg) {
        let guard = self.comps[c as usize].guard == Some((self.t, id))
            && self.comps[c as usize].gen_ == gen_;
        // Not serving by M6 is noted where `serve` refuses for it.
        if self.mgrs[m].status != MgrStatus::Up || !self.mgrs[m].store.reachable() {
            self.note_unserved(c as usize);
        }
        match self.mgrs[m].status {
            MgrStatus::Hung => {
                if guard {
                    self.release_guard(c as usize);
                }
            }
            MgrStatus::Crashed => {
                let back = self.plan.mgr_link[m].delay_ms;
                self.reply(c, gen_, id, Reply::LbUnavailable, back, guard);
            }
            MgrStatus::Up => match self.serve(m, c, gen_, id, req) {
                Some(resp) => self.answer(m, c, gen_, id, resp, guard),
                None => {
                    if guard {
                        self.release_guard(c as usize);
                    }
                }
            },
        }
    }

    pub(super) fn answer(
        &mut self,
        m: usize,
        c: u32,
        gen_: u32,
        id: RequestId,
        resp: Result<Response, TransportError>,
        guard: bool,
    ) {
        if self.mgr_to_lb[m] {
            self.note_unserved(c as usize);
            if guard {
                self.release_guard(c as usize);
            }
            return;
        }
        let link = self.plan.mgr_link[m];
        match self.sample(link)[0] {
            Some(d) => {
                let resp = self.wire.through_http(resp);
                self.reply(c, gen_, id, Reply::Full(Box::new(resp)), d, guard);
            }
            None => {
                self.note_loss(c as usize, None);
                if guard {
                    self.release_guard(c as usize);
                }
            }
        }
    }

    /// A message on component `c`'s path was lost (`first` is `None`).
    fn note_loss(&mut self, c: usize, first: Option<u64>) {
        if first.is_none() {
            self.note_unserved(c);
        }
    }

    /// A request of component `c` met no serving manager: I9 does not
    /// blame a confirmation round (T2) that met it.
    pub(super) fn note_unserved(&mut self, c: usize) {
        self.comps[c].unserved_at = Some(self.t);
    }
}
