//! The event loop: hosts, clocks, network, load balancer, managers, faults,
//! and the invariant checks after every event.

use crate::clock::HostClock;
use crate::plan::{Bug, Expect, Fault, Host, Link, MIN, Plan, SEC};
use crate::process::Launch;
use crate::queue::EventQueue;
use crate::report::{Report, Verdicts};
use crate::rng::{SimRng, TraceHash};
use crate::store::SimStore;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tenure_core::agent::{
    Agent, AgentConfig, Event, Request, RequestId, Response, State, StopReason, TransportError,
};
use tenure_core::health::{LIVENESS, NotServing};
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::{self as decide, PoolView};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, GrantResponse, HostFacts, Instance};
use tenure_core::{ErrorBody, ErrorCode, GrantId, UnixMillis};
use tenure_storage::{InstallPolicy, Manager, ManagerError, MemoryStore, Store};

/// True time 0 reads this on a perfect wall clock (2027-01-15).
pub const WALL0: i64 = 1_800_000_000_000;
/// The drivers' `max_sleep`; the sim emulates it exactly (see `Comp::chain`).
pub const DRIVER_MAX_SLEEP_MS: u64 = tenure_core::agent::DRIVER_MAX_SLEEP.as_secs() * SEC;
const HEARTBEAT_MS: u64 = 2 * SEC;
/// The agents' request timeout, set here so that I2 need not read it back.
const AGENT_REQUEST_TIMEOUT_MS: u64 = 10 * SEC;
const SWEEP_MS: u64 = 60 * SEC;
/// HAProxy `timeout connect`: a blocked LB-to-manager link answers 503 after it.
const LB_CONNECT_TIMEOUT_MS: u64 = 5 * SEC;
/// Scheduling and rounding slack on I2 (ms).
const I2_SLACK_MS: u64 = 2;

#[derive(Debug)]
enum Ev {
    Wake {
        c: u32,
        token: u64,
    },
    ToLb {
        c: u32,
        gen_: u32,
        id: RequestId,
        req: Msg,
    },
    ToMgr {
        m: u8,
        c: u32,
        gen_: u32,
        id: RequestId,
        req: Msg,
    },
    ToComp {
        c: u32,
        gen_: u32,
        id: RequestId,
        resp: Reply,
    },
    StaleCommit {
        m: u8,
        inc: u32,
        c: u32,
        gen_: u32,
        id: RequestId,
        pending: Box<PendingGrant>,
    },
    Heartbeat {
        m: u8,
        inc: u32,
    },
    Sweep {
        m: u8,
        inc: u32,
    },
    Check {
        m: u8,
    },
    Restart {
        c: u32,
        gen_: u32,
    },
    Fault(u32),
    Liveness,
}

/// A request on the wire, compact: only the rare grant request is boxed.
#[derive(Debug, Clone)]
enum Msg {
    Grant(Box<tenure_core::wire::RawGrantRequest>),
    Renew {
        grant_id: GrantId,
        client_time_ms: i64,
    },
    Release {
        grant_id: GrantId,
    },
}

impl From<Request> for Msg {
    fn from(r: Request) -> Self {
        match r {
            Request::Grant(raw) => Msg::Grant(raw),
            Request::Renew {
                grant_id,
                client_time_ms,
            } => Msg::Renew {
                grant_id,
                client_time_ms,
            },
            Request::Release { grant_id } => Msg::Release { grant_id },
        }
    }
}

impl Msg {
    fn kind(&self) -> Kind {
        match self {
            Msg::Grant(_) => Kind::Grant,
            Msg::Renew { .. } => Kind::Renew,
            Msg::Release { .. } => Kind::Release,
        }
    }
}

/// An answer on the wire: the balancer's own 503 needs no allocation.
#[derive(Debug, Clone)]
enum Reply {
    LbUnavailable,
    Full(Box<Result<Response, TransportError>>),
    /// A proxy's or WAF's own answer, decoded as the driver decodes it.
    Proxy(Box<Result<Response, TransportError>>),
}

impl Reply {
    fn into_result(self) -> Result<Response, TransportError> {
        match self {
            Reply::LbUnavailable => lb_unavailable(),
            Reply::Full(r) | Reply::Proxy(r) => *r,
        }
    }
}

/// A wake-up that may run within the event that scheduled it.
#[derive(Debug)]
struct InlineWake {
    at: u64,
    seq: u64,
    c: u32,
    token: u64,
}

/// An answer that may be delivered within the event that produced it.
#[derive(Debug)]
struct Inline {
    at: u64,
    /// Its place in the queue's order, should it be queued after all.
    seq: u64,
    c: u32,
    gen_: u32,
    id: RequestId,
    resp: Reply,
}

impl Ev {
    /// The component a message or restart is bound for (wake-ups excluded).
    fn comp(&self) -> Option<u32> {
        match self {
            Ev::ToLb { c, .. }
            | Ev::ToMgr { c, .. }
            | Ev::ToComp { c, .. }
            | Ev::StaleCommit { c, .. }
            | Ev::Restart { c, .. } => Some(*c),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct PendingGrant {
    req: GrantRequest,
    view: PoolView,
    now: UnixMillis,
    license: Arc<License>,
    id: GrantId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MgrStatus {
    Up,
    Crashed,
    Hung,
}

struct Mgr {
    manager: Manager<SimStore>,
    store: SimStore,
    node_id: String,
    clock: HostClock,
    status: MgrStatus,
    inc: u32,
    /// Last heartbeat that reached storage: (local wall ms, serving).
    node: Option<(i64, Result<(), NotServing>)>,
    grants_ok: u64,
}

impl Mgr {
    /// `serving(t).is_ok()`, without building the error.
    fn serves(&self, t: u64) -> bool {
        match &self.node {
            Some((at, Ok(()))) => self.clock.wall_ms(t) < at.saturating_add(10_000),
            _ => false,
        }
    }

    fn serving(&self, t: u64) -> Result<(), NotServing> {
        let local = self.clock.wall_ms(t);
        match &self.node {
            Some((at, s)) if local < at.saturating_add(10_000) => s.clone(),
            _ => Err(NotServing::StorageUnavailable),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grant,
    Renew,
    Release,
}

struct Comp {
    /// Boxed: read at starts and count changes only, and a smaller `Comp`
    /// keeps more components' hot fields in cache.
    req: Box<GrantRequest>,
    clock: HostClock,
    agent: Option<Agent>,
    gen_: u32,
    token: u64,
    wake_at: Option<u64>,
    last_call_mono_ns: u64,
    /// A wall step or a resume happened since the last call: the real driver
    /// wakes within `DRIVER_MAX_SLEEP_MS` of monotonic time after its last
    /// call to notice it. Otherwise those wake-ups are no-ops and are skipped.
    chain: bool,
    crashed: bool,
    up_blocked: bool,
    down_blocked: bool,
    inflight: Vec<(RequestId, u64, Kind)>,
    running: bool,
    counted: bool,
    forfeited: Option<GrantId>,
    last_ok_send: u64,
    grace_ms: u64,
    i2_base: u64,
    i2_allowed: u64,
    i2_epoch: u64,
    grace_since: Option<u64>,
    healthy_since: Option<u64>,
    best_window: u64,
    i5_pending: Option<u64>,
    i5_attempt: Option<u64>,
    stops: Vec<StopRec>,
    starts: Vec<u64>,
    /// True time of the last Started or Regranted: when it claimed its instance.
    claimed_at: Option<u64>,
    /// Whether the answer being handed to the agent now came from a manager
    /// (not from a proxy or the balancer): I9.
    answer_from_manager: bool,
    entered_grace: bool,
    last_resume: u64,
    /// When the answer to the request in flight is sure to arrive (or reach a
    /// manager): wake-ups at or after it are deferred (`deferred`).
    guard: Option<(u64, RequestId)>,
    resumed_late: bool,
    /// A VM pause stopped its monotonic clock since its last success: only
    /// the wall clock shows that time, and the real driver, which wakes every
    /// max_sleep, finds a deadline there within max_sleep.
    wall_ahead: bool,
    /// Since its last success: the net wall-clock steps (negative: set back)
    /// and the true time it spent paused, with the pause in progress. Both
    /// clocks of a host set back and then paused miss time: T2 then stops
    /// the smaller of the two late, and no software on the host can see it.
    wall_shift_ms: i64,
    paused_ms: u64,
    paused_at: Option<u64>,
    deferred: Option<u64>,
    /// Queued messages to or from it, and restarts (not wake-ups).
    msgs: u32,
}

/// One stop of a component: when, why, and its true grace deadline then.
#[derive(Debug, Clone, Copy)]
pub struct StopRec {
    pub t: u64,
    /// The earliest a correct agent may stop: a fast clock measures grace early.
    pub earliest: u64,
    pub reason: StopReason,
    pub deadline: u64,
    pub allowed: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Backend {
    up: bool,
    ok_run: u32,
    fail_run: u32,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("scenario", &self.plan.scenario)
            .field("t", &self.t)
            .finish_non_exhaustive()
    }
}

pub struct World {
    plan: Plan,
    rng: SimRng,
    /// How a manager process starts (a restart is a new process).
    launch: Launch,
    t: u64,
    queue: EventQueue<Ev>,
    comps: Vec<Comp>,
    mgrs: Vec<Mgr>,
    checker: MemoryStore,
    db_now: Arc<AtomicI64>,
    /// True time, for the managers' monotonic clocks (M9's clock watch).
    true_now: Arc<AtomicU64>,
    db_clock: HostClock,
    db_up: bool,
    lb: [Backend; 2],
    lb_to_mgr: [bool; 2],
    mgr_to_lb: [bool; 2],
    flapping: bool,
    /// A proxy answering every request with this status until this time.
    proxy: Option<(u16, u64)>,
    scratch_tx: Vec<(RequestId, Msg)>,
    scratch_ev: Vec<Event>,
    next_check: [u64; 2],
    /// A health check not queued because it cannot change anything before
    /// the next fault (see `lb_check`): the instant it was due.
    parked_check: [Option<u64>; 2],
    pending_faults: BinaryHeap<Reverse<u64>>,
    limit_servers: Option<u64>,
    limit_cores: Option<u64>,
    vendor: SecretKey,
    license: License,
    config: AgentConfig,
    servers: u64,
    cores: u64,
    ledger: BTreeMap<GrantId, i64>,
    i2_hints: BinaryHeap<Reverse<(u64, u32, u64)>>,
    hash: TraceHash,
    trace: Option<Box<dyn Write>>,
    // statistics
    events: u64,
    renewals: u64,
    grants: u64,
    grace_ms_total: u64,
    denials: BTreeMap<String, u64>,
    stops: BTreeMap<String, u64>,
    failover: Option<u64>,
    worst_gap: Option<u64>,
    failover_bound: u64,
    late_successes: u64,
    /// A manager answered `license_expired` since the last license install.
    expiry_announced: bool,
    verdicts: Verdicts,
    held_until_at_crash: BTreeMap<usize, u64>,
    max_resume_overrun: u64,
    inline: Option<Inline>,
    inline_answers: u64,
    inline_wake: Option<InlineWake>,
    inline_wakes: u64,
}

fn name(s: &str) -> Name {
    Name::parse("sim", s).unwrap_or_else(|e| panic!("sim name {s}: {e}"))
}

fn reason_label(r: StopReason) -> String {
    match r {
        StopReason::Requested => "requested".into(),
        StopReason::GraceExpired => "grace_expired".into(),
        StopReason::Revoked => "revoked".into(),
        StopReason::LicenseExpired => "license_expired".into(),
        StopReason::Replaced => "replaced".into(),
        StopReason::Denied { code } => format!("denied_{code}"),
    }
}

/// As `frontends/service` answers: the code's status and body, and on a 503
/// the code's own `Retry-After` (`ErrorCode::retry_after_s`), as the driver
/// would decode it.
fn err_resp(code: ErrorCode, msg: impl Into<String>) -> Result<Response, TransportError> {
    Ok(Response::Error {
        status: code.http_status(),
        body: Some(ErrorBody::new(code, msg)),
        retry_after: code
            .retry_after_s()
            .map(|s| Duration::from_secs(u64::from(s))),
    })
}

fn lb_unavailable() -> Result<Response, TransportError> {
    // HAProxy's own 503 page: not a Tenure error body, and no Retry-After
    // (its default errorfile has none).
    Ok(Response::Error {
        status: 503,
        body: None,
        retry_after: None,
    })
}

fn make_license(plan: &Plan, not_after_ms: u64, not_before_ms: Option<u64>) -> License {
    let mut products = BTreeMap::new();
    products.insert(
        name("vdp"),
        Limits {
            max_servers: plan.max_servers,
            max_cores_per_server: None,
            max_total_cores: plan.max_total_cores,
            extra: BTreeMap::new(),
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(name("production"), products);
    License {
        license_id: format!("sim-{not_after_ms}-{}", not_before_ms.unwrap_or(0)),
        licensee: "Simulated Co".into(),
        issued_at: UnixMillis(WALL0 - 86_400_000 + (not_after_ms / 1000) as i64),
        not_before: UnixMillis(not_before_ms.map_or(WALL0 - 86_400_000, |nb| WALL0 + nb as i64)),
        not_after: UnixMillis(WALL0 + not_after_ms as i64),
        max_managers: plan.max_managers,
        grace_period_s: plan.grace_s,
        limits,
        extra: BTreeMap::new(),
    }
}

/// The nonce manager `m` registers in its process `incarnation` (M6).
fn nonce(m: usize, incarnation: u32) -> String {
    format!("m{m}p{incarnation}")
}

impl World {
    pub fn new(plan: Plan, trace: Option<Box<dyn Write>>) -> Self {
        let mut rng = SimRng::new(plan.seed);
        let db_now = Arc::new(AtomicI64::new(WALL0));
        let true_now = Arc::new(AtomicU64::new(0));
        let db_clock = HostClock::new(0, WALL0, Duration::ZERO, plan.db_ppm);
        let reader = db_now.clone();
        // One thread writes and reads it (the store's clock is called from
        // within the event loop): no ordering with other memory is needed.
        let checker =
            MemoryStore::new(Arc::new(move || UnixMillis(reader.load(Ordering::Relaxed))));
        let vendor = SecretKey::from_seed([7; 32]);
        let license = make_license(&plan, plan.not_after_ms, None);
        let armoured = sign(&license, &vendor).unwrap_or_else(|e| panic!("sign: {e}"));
        let cfg = tenure_core::manager::ManagerConfig {
            lease_ttl: Duration::from_secs(plan.lease_ttl_s),
            renew_every: Duration::from_secs(plan.renew_every_s),
            reclaim_margin: Duration::from_secs(plan.reclaim_margin_s),
        };
        let bug_ttl = match plan.bug {
            Some(Bug::ReclaimAtLeaseTtl) => Some(plan.lease_ttl_s * SEC),
            Some(Bug::NoReclaimMargin) => Some(plan.grace_ms()),
            _ => None,
        };
        let launch = Launch {
            config: cfg,
            vendor: vendor.verifying_key(),
            true_now: true_now.clone(),
            without_nonce: plan.bug == Some(Bug::NoNonce),
        };
        let mut mgrs = Vec::new();
        for m in 0..2 {
            let store = SimStore::new(
                checker.clone(),
                bug_ttl,
                plan.bug == Some(Bug::LostHighWater),
            );
            let manager = launch.start(&store, &nonce(m, 0));
            let clock = HostClock::new(
                0,
                WALL0 + plan.mgr_offset_ms[m],
                Duration::ZERO,
                plan.mgr_ppm[m],
            );
            // A node-id clash: both processes were given the first's id.
            let id = if plan.node_clash { 0 } else { m };
            mgrs.push(Mgr {
                manager,
                store,
                node_id: format!("manager-{id}"),
                clock,
                status: MgrStatus::Up,
                inc: 0,
                node: None,
                grants_ok: 0,
            });
        }
        if let Err(e) = mgrs[0]
            .manager
            .install_license(&armoured, InstallPolicy::IfNewer)
        {
            panic!("install license: {e}");
        }
        let template = GrantRequest {
            instance: Instance {
                environment: name("production"),
                product: name("vdp"),
                hostname: Hostname::parse("c0.sim.example").unwrap_or_else(|e| panic!("{e}")),
                port: 9000,
            },
            facts: HostFacts {
                cores: plan.cores,
                ip: None,
                version: Some("9.1.0".into()),
            },
            client_time: None,
        };
        let mut config = AgentConfig::new(template.clone(), 1);
        config.request_timeout = Duration::from_millis(AGENT_REQUEST_TIMEOUT_MS);
        // The drivers' cap is emulated by the driver (`Comp::chain`), so the
        // agent itself may sleep until its next real deadline.
        config.max_sleep = Duration::from_secs(86_400);
        let mut comps = Vec::new();
        for i in 0..plan.components {
            let mut req = template.clone();
            req.instance.hostname =
                Hostname::parse(&format!("c{i}.sim.example")).unwrap_or_else(|e| panic!("{e}"));
            let offset = rng.range_i(-plan.comp_offset_ms, plan.comp_offset_ms);
            // A negative `comp_ppm`: every clock slow, by up to its size.
            let ppm = if plan.comp_ppm < 0 {
                rng.range_i(plan.comp_ppm, 0)
            } else {
                rng.range_i(-plan.comp_ppm, plan.comp_ppm)
            };
            let mono0 = Duration::from_secs(rng.range(1, 1_000_000));
            let mut clock = HostClock::new(0, WALL0 + offset, mono0, ppm);
            clock.set_wall_only(plan.bug == Some(Bug::WallClockGrace));
            clock.set_mono_only(plan.bug == Some(Bug::MonotonicOnlyGrace));
            clock.freeze_mono_in_suspend = plan.bug == Some(Bug::BareMonotonic);
            comps.push(Comp {
                req: Box::new(req),
                clock,
                agent: None,
                gen_: 0,
                token: 0,
                wake_at: None,
                last_call_mono_ns: 0,
                chain: false,
                crashed: true,
                up_blocked: false,
                down_blocked: false,
                inflight: Vec::new(),
                running: false,
                counted: false,
                forfeited: None,
                last_ok_send: 0,
                grace_ms: 0,
                i2_base: 0,
                i2_allowed: 0,
                i2_epoch: 0,
                grace_since: None,
                healthy_since: None,
                best_window: 0,
                i5_pending: None,
                i5_attempt: None,
                stops: Vec::new(),
                starts: Vec::new(),
                claimed_at: None,
                answer_from_manager: false,
                entered_grace: false,
                last_resume: 0,
                guard: None,
                deferred: None,
                resumed_late: false,
                wall_ahead: false,
                wall_shift_ms: 0,
                paused_ms: 0,
                paused_at: None,
                msgs: 0,
            });
        }
        if plan.bug != Some(Bug::TwinsApart) {
            for &(a, b) in &plan.twins {
                if a < comps.len() && b < comps.len() {
                    let identity = comps[a].req.clone();
                    comps[b].req = identity;
                }
            }
        }
        let lbc = plan.lb;
        let d = lbc.inter_ms * u64::from(lbc.fall) + lbc.inter_ms;
        let x = d + 10 * SEC;
        let step = (x / SEC + 1).next_power_of_two() * SEC;
        let failover_bound = x + step.min(plan.renew_every_s * SEC) + 2 * SEC;
        let flapping = plan.flapping;
        let mut w = Self {
            rng,
            launch,
            t: 0,
            queue: EventQueue::default(),
            comps,
            mgrs,
            checker,
            db_now,
            true_now,
            db_clock,
            db_up: true,
            lb: [Backend {
                up: true,
                ok_run: 0,
                fail_run: 0,
            }; 2],
            lb_to_mgr: [false; 2],
            mgr_to_lb: [false; 2],
            flapping,
            proxy: None,
            scratch_tx: Vec::new(),
            scratch_ev: Vec::new(),
            next_check: [0; 2],
            parked_check: [None; 2],
            pending_faults: BinaryHeap::new(),
            limit_servers: plan.max_servers,
            limit_cores: plan.max_total_cores,
            vendor,
            license,
            config,
            servers: 0,
            cores: 0,
            ledger: BTreeMap::new(),
            i2_hints: BinaryHeap::new(),
            hash: TraceHash::default(),
            trace,
            events: 0,
            renewals: 0,
            grants: 0,
            grace_ms_total: 0,
            denials: BTreeMap::new(),
            stops: BTreeMap::new(),
            failover: None,
            worst_gap: None,
            failover_bound,
            late_successes: 0,
            expiry_announced: false,
            verdicts: Verdicts::default(),
            held_until_at_crash: BTreeMap::new(),
            max_resume_overrun: 0,
            inline: None,
            inline_answers: 0,
            inline_wake: None,
            inline_wakes: 0,
            plan,
        };
        w.schedule_start();
        w
    }

    fn push(&mut self, at: u64, ev: Ev) {
        let seq = self.queue.reserve();
        self.push_reserved(at, seq, ev);
    }

    fn push_reserved(&mut self, at: u64, seq: u64, ev: Ev) {
        if let Some(c) = ev.comp() {
            self.comps[c as usize].msgs += 1;
        }
        self.queue.push_reserved(at, seq, ev);
    }

    fn push_fault(&mut self, at: u64, i: u32) {
        self.pending_faults.push(Reverse(at));
        self.push(at, Ev::Fault(i));
    }

    fn schedule_start(&mut self) {
        self.push(0, Ev::Heartbeat { m: 0, inc: 0 });
        self.push(1, Ev::Heartbeat { m: 1, inc: 0 });
        self.push(SWEEP_MS, Ev::Sweep { m: 0, inc: 0 });
        self.push(SWEEP_MS + 7, Ev::Sweep { m: 1, inc: 0 });
        self.push(self.plan.lb.inter_ms, Ev::Check { m: 0 });
        self.push(self.plan.lb.inter_ms + 3, Ev::Check { m: 1 });
        self.next_check = [self.plan.lb.inter_ms, self.plan.lb.inter_ms + 3];
        for c in 0..self.comps.len() {
            let at = match self.plan.late_starts.iter().find(|(i, _)| *i == c) {
                Some((_, at)) => *at,
                None => self.rng.range(SEC, SEC.max(self.plan.start_spread_ms)),
            };
            self.push(
                at,
                Ev::Restart {
                    c: c as u32,
                    gen_: 0,
                },
            );
        }
        let faults = self.plan.faults.clone();
        for (i, (at, _)) in faults.iter().enumerate() {
            self.push_fault(*at, i as u32);
        }
        // Health (I4, I9) changes when a license expires and when a proxy
        // stops answering in the managers' place.
        let marks = faults
            .iter()
            .filter_map(|(_, f)| match f {
                Fault::ProxyAnswers { until_ms, .. } => Some(*until_ms),
                _ => None,
            })
            .chain([self.plan.not_after_ms]);
        for at in marks
            .filter(|at| *at < self.plan.end_ms)
            .collect::<Vec<_>>()
        {
            let i = self.plan.faults.len();
            self.plan.faults.push((at, Fault::Mark));
            self.push_fault(at, i as u32);
        }
        if let Some(at) = self.plan.liveness_at {
            self.push(at, Ev::Liveness);
        }
    }

    fn trace_line(&mut self, line: std::fmt::Arguments<'_>) {
        if let Some(w) = self.trace.as_mut() {
            let _ = writeln!(w, "{:>12} {}", self.t, line);
        }
    }

    fn violate(&mut self, inv: usize, msg: String) {
        self.trace_line(format_args!("VIOLATION I{inv}: {msg}"));
        self.verdicts.fail(inv, self.t, msg);
    }

    pub fn run(mut self) -> Report {
        while let Some((at, ev)) = self.queue.pop() {
            if at > self.plan.end_ms {
                break;
            }
            if let Some(c) = ev.comp() {
                self.comps[c as usize].msgs -= 1;
            }
            // I2 deadlines that fall strictly between two events are checked
            // at their own instant, on the state the last event left.
            self.check_i2(at.saturating_sub(1));
            if self.plan.stop_on_violation && self.verdicts.any_failed() {
                break;
            }
            self.t = at;
            self.db_now
                .store(self.db_clock.wall_ms(at), Ordering::Relaxed);
            self.true_now.store(at, Ordering::Relaxed);
            self.events += 1;
            self.handle(ev);
            self.settle_inline();
            self.check_after_event();
            if self.plan.stop_on_violation && self.verdicts.any_failed() {
                break;
            }
        }
        self.t = self.t.max(self.plan.end_ms.min(self.t));
        self.finish()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Wake { c, token } => self.wake(c, token),
            Ev::ToLb { c, gen_, id, req } => {
                self.hash
                    .u64(self.t ^ (2 << 60) ^ u64::from(c) ^ (id.0 << 20));
                self.at_lb(c, gen_, id, req, 0, false);
            }
            Ev::ToMgr {
                m,
                c,
                gen_,
                id,
                req,
            } => {
                self.hash
                    .u64(self.t ^ (3 << 60) ^ u64::from(c) ^ (u64::from(m) << 40));
                self.at_mgr(m as usize, c, gen_, id, req);
            }
            Ev::ToComp { c, gen_, id, resp } => self.deliver(c, gen_, id, resp),
            Ev::StaleCommit {
                m,
                inc,
                c,
                gen_,
                id,
                pending,
            } => {
                self.hash.u64(self.t ^ (5 << 60) ^ u64::from(c));
                let mgr = &self.mgrs[m as usize];
                if mgr.inc != inc || mgr.status != MgrStatus::Up {
                    return;
                }
                let resp = self.stale_commit(m as usize, *pending);
                self.answer(m as usize, c, gen_, id, resp, false);
            }
            Ev::Heartbeat { m, inc } => {
                self.hash.u64(self.t ^ (6 << 60) ^ u64::from(m));
                self.heartbeat(m as usize, inc);
            }
            Ev::Sweep { m, inc } => {
                let mgr = &self.mgrs[m as usize];
                if mgr.inc != inc || mgr.status == MgrStatus::Crashed {
                    return;
                }
                if mgr.status == MgrStatus::Up {
                    let _ = mgr.manager.sweep(1000);
                }
                self.push(self.t + SWEEP_MS, Ev::Sweep { m, inc });
            }
            Ev::Check { m } => {
                self.hash.u64(self.t ^ (7 << 60) ^ u64::from(m));
                self.lb_check(m as usize);
            }
            Ev::Restart { c, gen_ } => {
                self.hash.u64(self.t ^ (8 << 60) ^ u64::from(c));
                let comp = &self.comps[c as usize];
                if comp.gen_ != gen_ {
                    return;
                }
                let stopped = comp.agent.as_ref().is_none_or(|a| !a.is_running());
                if (comp.crashed && comp.agent.is_none() && gen_ == 0) || (!comp.crashed && stopped)
                {
                    self.start_agent(c as usize);
                }
            }
            Ev::Fault(i) => {
                self.pending_faults.pop();
                self.hash.u64(self.t ^ (9 << 60) ^ u64::from(i));
                let f = self.plan.faults[i as usize].1.clone();
                self.trace_line(format_args!("fault {f:?}"));
                self.apply_fault(f);
                self.unpark_checks();
                self.refresh_health();
            }
            Ev::Liveness => self.liveness(),
        }
    }

    /// Component `c`'s timer fires at `self.t` (if `token` is still its own).
    fn wake(&mut self, c: u32, token: u64) {
        self.hash.u64(self.t ^ (1 << 60) ^ u64::from(c));
        let comp = &self.comps[c as usize];
        if comp.token != token || comp.crashed || comp.clock.is_suspended() {
            return;
        }
        let now = comp.clock.now(self.t);
        self.comps[c as usize].wake_at = None;
        if let Some(a) = self.comps[c as usize].agent.as_mut() {
            a.handle_timeout(now);
        }
        self.after_agent(c as usize, None);
    }

    /// An answer reaches component `c` at `self.t`.
    fn deliver(&mut self, c: u32, gen_: u32, id: RequestId, resp: Reply) {
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
        let comp = &self.comps[c as usize];
        if comp.gen_ != gen_ || comp.crashed || comp.clock.is_suspended() {
            return;
        }
        let now = comp.clock.now(self.t);
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
        let granted = match &resp {
            Ok(Response::Granted(g)) => Some(g.grant_id),
            _ => None,
        };
        if let Some(a) = self.comps[c as usize].agent.as_mut() {
            a.handle_response(now, id, resp);
        }
        self.after_agent(c as usize, Some((id, granted)));
    }

    // ------------------------------------------------- answers delivered inline

    /// Settles the answer set aside by `reply` during this event: delivered
    /// now, at its own arrival time, if nothing can tell the difference;
    /// otherwise queued as an ordinary event.
    fn settle_inline(&mut self) {
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
    fn can_wake_inline(&self, w: &InlineWake) -> bool {
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
            State::Licensed { lease } => {
                lease.elapsed(&now) < lease.lease_ttl.min(lease.grace_period)
            }
            State::Grace { lease, .. } => lease.elapsed(&now) < lease.grace_period,
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
    fn can_deliver_inline(&self, f: &Inline) -> bool {
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

    // ---------------------------------------------------------------- agents

    fn start_agent(&mut self, c: usize) {
        let seed = self.rng.next_u64();
        let comp = &mut self.comps[c];
        comp.crashed = false;
        comp.gen_ += 1;
        comp.forfeited = None;
        comp.resumed_late = false;
        comp.wall_ahead = false;
        comp.wall_shift_ms = 0;
        comp.paused_ms = 0;
        comp.guard = None;
        comp.deferred = None;
        comp.inflight.clear();
        let mut cfg = self.config.clone();
        cfg.request = (*comp.req).clone();
        let now = comp.clock.now(self.t);
        comp.agent = Some(Agent::new(cfg, now, seed));
        self.trace_line(format_args!("start c{c}"));
        self.after_agent(c, None);
        self.refresh_health_of(c);
    }

    fn after_agent(&mut self, c: usize, answered: Option<(RequestId, Option<GrantId>)>) {
        let t = self.t;
        let mut transmits = std::mem::take(&mut self.scratch_tx);
        let mut events = std::mem::take(&mut self.scratch_ev);
        let (running, in_grace) = {
            let comp = &mut self.comps[c];
            let Some(agent) = comp.agent.as_mut() else {
                return;
            };
            while let Some(x) = agent.poll_transmit() {
                transmits.push((x.id, Msg::from(x.request)));
            }
            while let Some(e) = agent.poll_event() {
                events.push(e);
            }
            comp.last_call_mono_ns = comp.clock.now_mono_ns(t);
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
        let mut started = false;
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
                        started = true;
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
                    }
                    match e {
                        Event::Renewed { .. } | Event::Recovered { .. } => {
                            self.renewals += 1;
                            self.check_i10(c, sent);
                        }
                        _ => {
                            self.grants += 1;
                            self.comps[c].claimed_at = Some(t);
                        }
                    }
                    self.success(c, sent, grant_id);
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
                Event::GraceOneDayLeft
                | Event::GraceOneHourLeft
                | Event::ClockStepped { .. }
                | Event::Rejected { .. } => {}
                Event::MustStop(reason) => self.stopped(c, reason),
            }
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
        for (id, req) in transmits.drain(..) {
            self.send(c, id, req);
        }
        self.scratch_tx = transmits;
        self.scratch_ev = events;
        self.schedule_wake(c);
    }

    fn success(&mut self, c: usize, sent: u64, grant_id: GrantId) {
        let t = self.t;
        // I2's grace is the license's, as the plan issued it: never the one
        // the agent under test believes it was given.
        let grace_ms = self.plan.grace_ms();
        let comp = &mut self.comps[c];
        comp.last_ok_send = sent;
        comp.resumed_late = false;
        comp.wall_ahead = false;
        comp.wall_shift_ms = 0;
        comp.paused_ms = 0;
        comp.grace_ms = grace_ms;
        // A clock running slow measures less than true time: allow for its rate (I2).
        let ppm = comp.clock.ppm.min(0).unsigned_abs();
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

    fn stopped(&mut self, c: usize, reason: StopReason) {
        let t = self.t;
        *self.stops.entry(reason_label(reason)).or_default() += 1;
        let comp = &mut self.comps[c];
        let deadline = comp.last_ok_send + comp.grace_ms;
        let fast = u64::try_from(comp.clock.ppm.max(0)).unwrap_or(0);
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

    /// I9: a component stops only on a Tenure denial a manager gave, or for
    /// grace once its true deadline has come; before it, only when it could
    /// not reach a serving manager (T2 lets a wall-clock step end grace then).
    fn check_i9(
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
                if t < earliest && reachable {
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
    fn check_i10(&mut self, c: usize, sent: u64) {
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

    fn i4_window(&self) -> u64 {
        (3600 * SEC).min(self.plan.grace_ms() / 3)
    }

    fn recount(&mut self, c: usize) {
        // Twins claim one instance, so they hold one slot between them: the
        // pair counts once while either runs (I10 bounds their overlap).
        let twin_counted = self.twin_of(c).is_some_and(|d| self.comps[d].counted);
        let comp = &mut self.comps[c];
        // A suspended host executes nothing; a host that resumed past its
        // grace deadline is inside the driver's max_sleep window (reported,
        // and bounded by I2), not counted as a licensed user.
        let counted = comp.running
            && !comp.crashed
            && comp.forfeited.is_none()
            && !comp.clock.is_suspended()
            && !comp.resumed_late;
        if counted != comp.counted {
            comp.counted = counted;
            if twin_counted {
                return;
            }
            let cores = u64::from(comp.req.facts.cores);
            if counted {
                self.servers += 1;
                self.cores += cores;
            } else {
                self.servers -= 1;
                self.cores -= cores;
            }
        }
    }

    /// The plan's twin of component `c`, if it has one.
    fn twin_of(&self, c: usize) -> Option<usize> {
        self.plan
            .twins
            .iter()
            .find_map(|&(a, b)| match (a == c, b == c) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            })
    }

    fn schedule_wake(&mut self, c: usize) {
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
            let step = DRIVER_MAX_SLEEP_MS * 1_000_000;
            let k = now_mono.saturating_sub(comp.last_call_mono_ns) / step + 1;
            let next = comp.last_call_mono_ns.saturating_add(k * step);
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

    // --------------------------------------------------------------- network

    fn sample(&mut self, link: Link) -> [Option<u64>; 2] {
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

    fn send(&mut self, c: usize, id: RequestId, req: Msg) {
        let t = self.t;
        let kind = req.kind();
        let comp = &mut self.comps[c];
        comp.inflight
            .retain(|(_, s, _)| t.saturating_sub(*s) < 120 * SEC);
        comp.inflight.push((id, t, kind));
        if kind != Kind::Release {
            comp.guard = None;
            if comp.i5_pending.is_some() && comp.i5_attempt.is_none() {
                comp.i5_attempt = Some(t);
            }
        }
        if comp.up_blocked {
            return;
        }
        let gen_ = comp.gen_;
        let link = self.plan.comp_link;
        let [first, dup] = self.sample(link);
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

    /// No loss and no duplication anywhere: every message sent arrives once.
    fn lossless(&self) -> bool {
        let l = [
            self.plan.comp_link,
            self.plan.mgr_link[0],
            self.plan.mgr_link[1],
        ];
        l.iter().all(|x| x.loss_ppm == 0 && x.dup_ppm == 0)
    }

    /// The load balancer's state cannot change before this instant.
    fn lb_stable_until(&self) -> u64 {
        let f = self.pending_faults.peek().map_or(u64::MAX, |Reverse(t)| *t);
        if self.lb_down_until_fault() {
            return f;
        }
        self.next_check[0].min(self.next_check[1]).min(f)
    }

    /// Both backends are down and no health check can bring one up before a
    /// fault: each is down in the manager (crashed or hung) or cut from the
    /// balancer, which only faults change (see `lb_check`).
    fn lb_down_until_fault(&self) -> bool {
        (0..2).all(|m| {
            !self.lb[m].up
                && (self.mgrs[m].status != MgrStatus::Up || self.lb_to_mgr[m] || self.mgr_to_lb[m])
        })
    }

    /// An answer leaves for component `c`, `extra` ms from now. `guard`: it
    /// is the answer to the request in flight and will surely arrive, so the
    /// agent's request-timeout wake-up need not be scheduled.
    fn reply(&mut self, c: u32, gen_: u32, id: RequestId, resp: Reply, extra: u64, guard: bool) {
        if self.comps[c as usize].down_blocked {
            if guard {
                self.release_guard(c as usize);
            }
            return;
        }
        let link = self.plan.comp_link;
        let [first, dup] = self.sample(link);
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
    fn set_guard(&mut self, c: usize, at: u64, id: RequestId) {
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
    fn release_guard(&mut self, c: usize) {
        let comp = &mut self.comps[c];
        comp.guard = None;
        if let Some(w) = comp.deferred.take() {
            let w = w.max(self.t + 1);
            self.push_wake(c, w);
        }
    }

    /// Like `push_wake`, but set aside for `settle_inline`, which may run
    /// it within this event.
    fn stash_wake(&mut self, c: usize, at: u64) {
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

    fn push_wake(&mut self, c: usize, at: u64) {
        let comp = &mut self.comps[c];
        comp.token += 1;
        comp.wake_at = Some(at);
        let token = comp.token;
        self.push(at, Ev::Wake { c: c as u32, token });
    }

    fn lb_target(&mut self) -> Option<usize> {
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
    fn at_lb(&mut self, c: u32, gen_: u32, id: RequestId, req: Msg, d: u64, guard: bool) {
        if let Some((status, until)) = self.proxy
            && self.t < until
        {
            let answer = self.proxy_answer(status);
            return self.reply(c, gen_, id, Reply::Proxy(Box::new(answer)), d, guard);
        }
        match self.lb_target() {
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

    /// A proxy's HTML page with `status`, decoded by the agent's own decoder
    /// (A4); under the planted bug a 403 page is taken for `revoked`.
    fn proxy_answer(&self, status: u16) -> Result<Response, TransportError> {
        let page =
            b"<html><head><title>Access denied</title></head><body>Blocked by policy</body></html>";
        let decoded = Response::decode(status, Some(b"text/html; charset=utf-8"), None, page);
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

    fn at_mgr(&mut self, m: usize, c: u32, gen_: u32, id: RequestId, req: Msg) {
        let guard = self.comps[c as usize].guard == Some((self.t, id))
            && self.comps[c as usize].gen_ == gen_;
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

    fn answer(
        &mut self,
        m: usize,
        c: u32,
        gen_: u32,
        id: RequestId,
        resp: Result<Response, TransportError>,
        guard: bool,
    ) {
        if self.mgr_to_lb[m] {
            if guard {
                self.release_guard(c as usize);
            }
            return;
        }
        let link = self.plan.mgr_link[m];
        match self.sample(link)[0] {
            Some(d) => self.reply(c, gen_, id, Reply::Full(Box::new(resp)), d, guard),
            None => {
                if guard {
                    self.release_guard(c as usize);
                }
            }
        }
    }

    // -------------------------------------------------------------- managers

    fn manager_error(&mut self, e: &ManagerError) -> Result<Response, TransportError> {
        let code = e.code();
        if code == ErrorCode::LicenseExpired {
            self.expiry_announced = true;
        }
        *self.denials.entry(code.as_str().to_owned()).or_default() += 1;
        err_resp(code, e.to_string())
    }

    /// The service's request path, minus HTTP: the M6 gate, then one
    /// `Manager` call, mapped to the status and error body the service sends.
    fn serve(
        &mut self,
        m: usize,
        c: u32,
        gen_: u32,
        id: RequestId,
        req: Msg,
    ) -> Option<Result<Response, TransportError>> {
        let t = self.t;
        if let Err(e) = self.mgrs[m].serving(t)
            && e.code() == ErrorCode::TooManyManagers
        {
            *self.denials.entry("too_many_managers".into()).or_default() += 1;
            return Some(err_resp(e.code(), e.to_string()));
        }
        match req {
            Msg::Grant(raw) => {
                let req = match raw.validate() {
                    Ok(r) => r,
                    Err(e) => return Some(err_resp(ErrorCode::BadRequest, e.to_string())),
                };
                let random = self.rng.bytes16();
                if self.plan.bug == Some(Bug::UnserialisedGrant) {
                    return self.stale_read(m, c, gen_, id, req, random);
                }
                let out = self.mgrs[m].manager.grant(&req, random);
                Some(match out {
                    Ok(g) => {
                        self.acked(m, &g);
                        Ok(Response::Granted(g))
                    }
                    Err(e) => self.manager_error(&e),
                })
            }
            Msg::Renew {
                grant_id,
                client_time_ms,
            } => {
                let out = self.mgrs[m].manager.renew(
                    grant_id,
                    Some(UnixMillis(client_time_ms)).filter(|c| c.0 >= 0),
                );
                Some(match out {
                    Ok(g) => {
                        self.acked(m, &g);
                        Ok(Response::Granted(g))
                    }
                    Err(e) => self.manager_error(&e),
                })
            }
            Msg::Release { grant_id } => Some(match self.mgrs[m].manager.release(grant_id) {
                Ok(()) => Ok(Response::Released),
                Err(e) => self.manager_error(&e),
            }),
        }
    }

    /// Planted bug 3, first half: read the pool in one transaction...
    fn stale_read(
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
    fn stale_commit(&mut self, m: usize, p: PendingGrant) -> Result<Response, TransportError> {
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
                self.acked(m, &g);
                Ok(Response::Granted(g))
            }
            (Ok(()), Err(denial)) => self.manager_error(&ManagerError::Denied(denial)),
        }
    }

    /// A manager acknowledges a grant or renewal: I6 (it is in the store as
    /// answered) and M7 (nothing succeeds after `not_after`).
    fn acked(&mut self, m: usize, g: &GrantResponse) {
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

    fn heartbeat(&mut self, m: usize, inc: u32) {
        let t = self.t;
        let mgr = &mut self.mgrs[m];
        if mgr.inc != inc || mgr.status != MgrStatus::Up {
            return;
        }
        let clock = mgr.clock.clone();
        let local = clock.wall_ms(t);
        let out = mgr
            .manager
            .heartbeat(&mgr.node_id, &|| UnixMillis(clock.wall_ms(t)), LIVENESS);
        if let Ok(hb) = out {
            let expired = hb.serving == Err(NotServing::LicenseExpired);
            mgr.node = Some((local, hb.serving));
            self.expiry_announced |= expired;
        }
        let next = t + mgr.clock.true_for_local(HEARTBEAT_MS);
        self.push(next, Ev::Heartbeat { m: m as u8, inc });
    }

    fn lb_check(&mut self, m: usize) {
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
    fn unpark_checks(&mut self) {
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

    // ---------------------------------------------------------------- faults

    fn any_up_manager(&self) -> Option<usize> {
        (0..2).find(|m| self.mgrs[*m].status == MgrStatus::Up)
    }

    fn crash_comp(&mut self, c: usize) {
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

    fn apply_fault(&mut self, f: Fault) {
        let t = self.t;
        match f {
            Fault::MgrCrash(m) | Fault::MgrHang(m) => {
                let hang = matches!(f, Fault::MgrHang(_));
                let other_ok = self.mgrs[1 - m].status == MgrStatus::Up;
                let mgr = &mut self.mgrs[m];
                mgr.inc += 1;
                mgr.status = if hang {
                    MgrStatus::Hung
                } else {
                    MgrStatus::Crashed
                };
                if !hang {
                    mgr.node = None;
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
            Fault::DbDown => {
                self.db_up = false;
                self.checker.set_available(false);
            }
            Fault::DbUp => {
                self.db_up = true;
                self.checker.set_available(true);
            }
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
            Fault::CompRestart(c) => {
                if c < self.comps.len() && self.comps[c].crashed {
                    self.start_agent(c);
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
                // holds a new grant (see README of the sim).
                if ok && self.comps[c].running {
                    self.comps[c].forfeited = held;
                    self.recount(c);
                }
                // The override frees the instance, so it covers a twin still
                // running on it (cut off, it cannot hear of it) as well.
                if let Some(d) = self.twin_of(c).filter(|d| ok && self.comps[*d].running) {
                    self.comps[d].forfeited = held;
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
                        self.allow_blind_time(c);
                        self.schedule_wake(c);
                    }
                }
                Host::Mgr(m) => self.mgrs[m].clock.step(t, delta),
                Host::Db => self.db_clock.step(t, delta),
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
                    // agent confirm with its one manager URL before it stops.
                    let paused = self.comps[c].clock.is_paused();
                    let confirm = if paused { AGENT_REQUEST_TIMEOUT_MS } else { 0 };
                    let allowance = self.comps[c]
                        .clock
                        .true_for_local(DRIVER_MAX_SLEEP_MS + confirm);
                    let comp = &mut self.comps[c];
                    comp.clock.resume(t);
                    comp.guard = None;
                    comp.deferred = None;
                    comp.last_resume = t;
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
                }
            }
            Fault::Flapping(on) => self.flapping = on,
            Fault::ProxyAnswers { status, until_ms } => {
                self.proxy = Some((status, until_ms));
                self.trace_line(format_args!("proxy answers {status} until {until_ms}"));
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
    fn check_ledger(&mut self) {
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

    // ------------------------------------------------------- health (for I4)

    fn globally_healthy(&self) -> bool {
        self.db_up
            && self.t < self.license.not_after.0.saturating_sub(WALL0) as u64
            // A proxy answering its own pages hides every manager.
            && self.proxy.is_none_or(|(_, until)| self.t >= until)
            && (0..2).any(|m| {
                // With max_managers 1 the peer, if it serves, holds the only
                // slot (M6) even when the balancer cannot reach it.
                let peer = &self.mgrs[1 - m];
                let peer_holds = self.license.max_managers < 2
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

    fn refresh_health(&mut self) {
        let g = self.globally_healthy();
        for c in 0..self.comps.len() {
            self.set_health(c, g);
        }
    }

    fn refresh_health_of(&mut self, c: usize) {
        let g = self.globally_healthy();
        self.set_health(c, g);
    }

    fn set_health(&mut self, c: usize, global: bool) {
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

    // ------------------------------------------------------------ invariants

    fn check_after_event(&mut self) {
        // I1: components running (licensed or in grace) fit every limit.
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
        // I7: never more serving managers than the license allows.
        let serving = (0..2)
            .filter(|m| {
                let mgr = &self.mgrs[*m];
                mgr.status == MgrStatus::Up
                    && self.db_up
                    && mgr.store.reachable()
                    && mgr.serves(self.t)
            })
            .count();
        if serving > self.license.max_managers as usize {
            let msg = format!(
                "{serving} managers serving, max_managers {}",
                self.license.max_managers
            );
            self.violate(7, msg);
        }
        // M6: one node id, one serving process.
        if self.mgrs[0].node_id == self.mgrs[1].node_id
            && self.mgrs.iter().all(|m| {
                m.status == MgrStatus::Up && self.db_up && m.store.reachable() && m.serves(self.t)
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

    /// I2 at every deadline due by `upto`, each at its own instant: the state
    /// between two events is the one the earlier left, so a component still
    /// running at its deadline is caught however sparse the events are.
    /// I2 for a host whose wall clock was set back and which was paused since
    /// its last success: neither clock saw the smaller of the two, so the
    /// agent stops that much late (plus a driver wake-up and a confirming
    /// request); the facts are the plan's faults, not the agent's state.
    fn allow_blind_time(&mut self, c: usize) {
        let comp = &mut self.comps[c];
        let lag = u64::try_from(-comp.wall_shift_ms.min(0)).unwrap_or(0);
        let blind = lag.min(comp.paused_ms);
        if !comp.running || blind == 0 {
            return;
        }
        let slack = comp
            .clock
            .true_for_local(DRIVER_MAX_SLEEP_MS + AGENT_REQUEST_TIMEOUT_MS);
        let allowed = comp.i2_base + blind + slack;
        if allowed > comp.i2_allowed {
            comp.i2_allowed = allowed;
            let e = comp.i2_epoch;
            self.i2_hints.push(Reverse((allowed + 1, c as u32, e)));
        }
    }

    fn check_i2(&mut self, upto: u64) {
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

    fn liveness(&mut self) {
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

    fn finish(mut self) -> Report {
        self.t = self.plan.end_ms.max(self.t);
        for c in 0..self.comps.len() {
            if let Some(s) = self.comps[c].grace_since.take() {
                self.grace_ms_total += self.t.saturating_sub(s);
            }
        }
        if self.db_up {
            self.check_ledger();
        }
        let expectation = crate::expect::evaluate(&self.plan, &self.outcome());
        if let Err(e) = &expectation {
            self.verdicts.fail_expectation(e.clone());
        }
        Report {
            scenario: self.plan.scenario.clone(),
            seed: self.plan.seed,
            components: self.plan.components,
            days_ms: self.plan.end_ms,
            events: self.events,
            inline_answers: self.inline_answers,
            inline_wakes: self.inline_wakes,
            grants: self.grants,
            renewals: self.renewals,
            time_in_grace_ms: self.grace_ms_total,
            stops: self.stops.clone(),
            denials: self.denials.clone(),
            failover_gap_ms: self.worst_gap,
            failover_bound_ms: self.failover.map(|_| self.failover_bound),
            manager_successes: [self.mgrs[0].grants_ok, self.mgrs[1].grants_ok],
            verdicts: self.verdicts.clone(),
            trace_hash: self.hash.0,
            max_resume_overrun_ms: self.max_resume_overrun,
        }
    }

    fn outcome(&self) -> crate::expect::Outcome {
        crate::expect::Outcome {
            stops: self.comps.iter().map(|c| c.stops.clone()).collect(),
            starts: self.comps.iter().map(|c| c.starts.clone()).collect(),
            running: self.comps.iter().map(|c| c.running).collect(),
            entered_grace: self.comps.iter().map(|c| c.entered_grace).collect(),
            grace_ms_total: self.grace_ms_total,
            denials: self.denials.clone(),
            manager_successes: [self.mgrs[0].grants_ok, self.mgrs[1].grants_ok],
            late_successes: self.late_successes,
            held_until_at_crash: self.held_until_at_crash.clone(),
            grace_ms: self.plan.grace_ms(),
        }
    }
}

impl Comp {
    fn base_deadline(&self) -> u64 {
        self.last_ok_send + self.grace_ms
    }
}

impl Plan {
    pub fn expect_all_running(&self) -> bool {
        matches!(
            self.expect,
            Expect::AllStopAtDeadline { .. }
                | Expect::RestartInGrace { .. }
                | Expect::LicenseExpiry { .. }
                | Expect::NoStops
                | Expect::NoGrace
        )
    }
}
