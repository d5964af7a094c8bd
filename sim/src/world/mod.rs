//! The world: its state (hosts, clocks, network, load balancer, managers,
//! components) and the event loop that advances it. Each concern's methods
//! live in a room of their own: `setup`, `components`, `inline`, `network`,
//! `managers`, `faults`, `invariants` (checked after every event) and
//! `outcome`.

use crate::clock::HostClock;
use crate::plan::{Bug, DAY, Expect, Fault, HOUR, Host, Link, MIN, Plan, SEC};
use crate::process::Launch;
use crate::queue::EventQueue;
use crate::report::{Report, Verdicts};
use crate::rng::{SimRng, TraceHash};
use crate::store::SimStore;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tenure_core::agent::{
    Agent, AgentConfig, Event, Request, RequestId, Response, State, StopReason, TransportError,
};
use tenure_core::health::{LIVENESS, NotServing};
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::{self as decide, PoolView};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, GrantResponse, HostFacts, Instance};
use tenure_core::{ErrorBody, ErrorCode, GrantId, Now, UnixMillis};
use tenure_service::node::NodeState;
use tenure_storage::{InstallPolicy, Manager, ManagerError, MemoryStore, Store};

mod a4;
mod blind_time;
mod clock_record;
mod components;
mod faults;
mod inline;
mod invariants;
mod managers;
mod network;
mod outcome;
mod setup;
mod step_watch;
mod sweep_check;
mod unseen_step;
mod wire;

/// True time 0 reads this on a perfect wall clock (2027-01-15).
pub const WALL0: i64 = 1_800_000_000_000;
/// The drivers' `max_sleep`; the sim emulates it exactly (see `Comp::chain`).
pub const DRIVER_MAX_SLEEP_MS: u64 = tenure_core::agent::DRIVER_MAX_SLEEP.as_secs() * SEC;
/// How often a manager heartbeats, as the service's periodic plan does.
const HEARTBEAT_MS: u64 = tenure_core::health::HEARTBEAT_EVERY.as_secs() * SEC;
/// The agents' request timeout, set here so that I2 need not read it back.
const AGENT_REQUEST_TIMEOUT_MS: u64 = 10 * SEC;
/// `max_clock_skew` (docs/protocol.md section 9), the simulator's own value
/// rather than core's, so that M9's record and I1 are not judged by the
/// number they check: a storage step up to this size may go unrecorded.
const SKEW_MS: u64 = 5 * SEC;
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

/// What a component's host does to it: its supervisor starts it, its
/// operator stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostAction {
    Start,
    Stop,
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
    /// The service's own record of its heartbeats, which its M6 gate
    /// reads: the last that reached storage, on the monotonic instant its
    /// attempt began, and whether one failed since.
    node: NodeState,
    grants_ok: u64,
}

impl Mgr {
    fn serves(&self, t: u64) -> bool {
        self.serving(t).is_ok()
    }

    /// The service's M6 gate (`NodeState::serving`) on this host's
    /// monotonic clock.
    fn serving(&self, t: u64) -> Result<(), NotServing> {
        self.node
            .serving(Duration::from_nanos(self.clock.now_mono_ns(t)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grant,
    Renew,
    Release,
}

// In declaration order, from a cache-line boundary: the fields every
// wake-up and answer reads fill the first four lines, then come the agent
// and what only starts, stops and checks read. In the compiler's order
// those fields lay across ten of a record's nineteen lines, each one a
// cache miss when an event reaches one of thousands of components.
#[repr(C, align(64))]
struct Comp {
    token: u64,
    wake_at: Option<u64>,
    deferred: Option<u64>,
    /// When the answer to the request in flight is sure to arrive (or reach a
    /// manager): wake-ups at or after it are deferred (`deferred`).
    guard: Option<(u64, RequestId)>,
    clock: HostClock,
    /// The clocks as the agent was last called (T2's step report).
    prev_now: Option<Now>,
    /// The wall step the agent must report in the current call.
    expect_step: Option<i64>,
    /// The same for wake-ups: an agent whose `poll_timeout` does not
    /// advance asks to be woken at the same instant forever.
    woken_in_second: (u64, u32),
    /// The clock's `epoch` at `prev_now`.
    prev_epoch: u32,
    gen_: u32,
    inflight: Vec<(RequestId, u64, Kind)>,
    /// What A4 says the answer being handed to the agent now decides, when
    /// the agent is sure to judge it (the answer to its current request).
    a4_due: Option<a4::Decides>,
    /// Queued messages to or from it, and restarts (not wake-ups).
    msgs: u32,
    crashed: bool,
    /// A wall step or a resume happened since the last call: the real driver
    /// wakes within `DRIVER_MAX_SLEEP_MS` of monotonic time after its last
    /// call to notice it. Otherwise those wake-ups are no-ops and are skipped.
    chain: bool,
    running: bool,
    counted: bool,
    resumed_late: bool,
    /// A VM pause stopped its monotonic clock since its last success: only
    /// the wall clock shows that time, and the real driver, which wakes every
    /// max_sleep, finds a deadline there within max_sleep.
    wall_ahead: bool,
    /// Whether the answer being handed to the agent now came from a manager
    /// (not from a proxy or the balancer): I9.
    answer_from_manager: bool,
    /// Since its last success its wall clock stepped: its warnings may come
    /// late or all at once (A3 is not checked).
    blurred: bool,
    forfeited: Option<GrantId>,
    up_blocked: bool,
    down_blocked: bool,
    /// Its host stopped it cleanly: it may send only releases (A5).
    stopped_cleanly: bool,
    entered_grace: bool,
    /// A3 warnings the agent gave since its last success: 1 the last day,
    /// 2 the last hour.
    warned: u8,
    /// A2's storm check: the true second and how many requests were sent
    /// in it.
    sent_in_second: (u64, u32),
    i2_base: u64,
    i2_allowed: u64,
    i2_epoch: u64,
    last_ok_send: u64,
    grace_ms: u64,
    agent: Option<Agent>,
    /// The grant this component last heard granted, until a manager's
    /// refusal or a stop: what a clean stop must release (A5).
    held: Option<GrantId>,
    /// The grant of its last success, whatever came after (`unseen_step`).
    last_granted: Option<GrantId>,
    /// When a request of it last met no serving manager: a message lost, a
    /// link cut, a balancer with no live target or one not yet failed
    /// over, a manager down, hung or not serving (I9).
    unserved_at: Option<u64>,
    /// The release a clean stop still owes.
    release_due: Option<GrantId>,
    /// Since its last success it was suspended or paused, and resumed: the
    /// true time by which it has seen every deadline its sleep passed (its
    /// driver's next wake-up and one confirming request), 0 if it has not.
    /// Warnings due while it slept are on time until then (A3).
    a3_resume_by: u64,
    /// Answers that reached it while it was suspended or paused: the kernel
    /// keeps them, and the driver reads them when the host runs again.
    held_answers: Vec<(u32, RequestId, Reply)>,
    /// Boxed: read at starts and count changes only, and a smaller `Comp`
    /// keeps more components' hot fields in cache.
    req: Box<GrantRequest>,
    grace_since: Option<u64>,
    healthy_since: Option<u64>,
    best_window: u64,
    i5_pending: Option<u64>,
    i5_attempt: Option<u64>,
    stops: Vec<StopRec>,
    starts: Vec<u64>,
    /// When the grant it last started or re-granted on was committed: the
    /// order of the claims on one instance is the order the managers
    /// committed them (M3), not the order their answers arrived in.
    claimed_at: Option<u64>,
    /// Its latest grant or renewal request: id and true time sent.
    last_ask: Option<(RequestId, u64)>,
    last_resume: u64,
    /// Since its last success: the net wall-clock steps (negative: set back)
    /// and the true time it spent paused, with the pause in progress. Both
    /// clocks of a host set back and then paused miss time: T2 then stops
    /// the smaller of the two late, and no software on the host can see it.
    wall_shift_ms: i64,
    paused_ms: u64,
    paused_at: Option<u64>,
    /// Starts and stops due while the host was suspended or paused, in
    /// order: the host carries them out when it resumes.
    on_resume: Vec<HostAction>,
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
    /// Cuts every manager's connection during a database outage; the
    /// checker reads the database behind it.
    db_switch: Arc<AtomicBool>,
    /// `globally_healthy` when health was last refreshed (I4, I9).
    healthy: bool,
    lb: [Backend; 2],
    lb_to_mgr: [bool; 2],
    mgr_to_lb: [bool; 2],
    flapping: bool,
    /// A proxy answering every request with this status until this time.
    proxy: Option<(u16, u64)>,
    /// Managers answering agents with a Tenure error: (code, grants only, until).
    refusing: Option<(ErrorCode, bool, u64)>,
    /// The database clock steps the plan made so far: how many, and their
    /// signed sum (M9's record is checked against them).
    db_steps: (u64, i64),
    /// Database clock steps that no manager process saw happen (every one
    /// down, or new since): seen only as far as they exceed the time that
    /// passed meanwhile, so the record need not add up to the plan's.
    db_steps_unwatched: u64,
    /// The database clock steps some watcher has yet to read
    /// (`step_watch`); and every step (true time, size) a manager met
    /// unseen (`unseen_step`).
    pending_steps: Vec<step_watch::PendingStep>,
    unseen_steps: Vec<(u64, i64)>,
    /// Components that left I1's count because a step no manager saw freed
    /// their slots.
    freed_by_unseen_step: u64,
    /// Components that left I1's count because their slots were reclaimed
    /// while they ran on blind time (`blind_time`).
    freed_in_blind_time: u64,
    /// The sum of the sizes of the database clock steps so far; the
    /// managers that have not read the clock since the latest step (each
    /// may record it when it does); and the true time after which no window
    /// a step opened (M9) is open any more, once both have read it.
    db_step_sizes_ms: u64,
    db_step_unread: [bool; 2],
    db_windows_closed_by: u64,
    scratch_tx: Vec<(RequestId, usize, Msg)>,
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
    /// True time each new grant was committed (I10's order of claims).
    committed: BTreeMap<GrantId, u64>,
    i2_hints: BinaryHeap<Reverse<(u64, u32, u64)>>,
    hash: TraceHash,
    wire: wire::Wire,
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
    /// An A2 storm ended the run.
    storming: bool,
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
            max_cores_per_server: plan.max_cores_per_server,
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
        // or the managers stop answering with their own refusals.
        let marks = faults
            .iter()
            .filter_map(|(_, f)| match f {
                Fault::ProxyAnswers { until_ms, .. } | Fault::ManagersRefuse { until_ms, .. } => {
                    Some(*until_ms)
                }
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

    /// The database answers (no outage): what the managers' connections see.
    fn db_up(&self) -> bool {
        self.db_switch.load(Ordering::SeqCst)
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
            if self.plan.stop_on_violation && self.verdicts.any_final() {
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
            if self.storming || (self.plan.stop_on_violation && self.verdicts.any_final()) {
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
                if mgr.status == MgrStatus::Up
                    && let Ok(ended) = mgr.manager.sweep(sweep_check::SWEEP_BATCH)
                {
                    self.read_storage_clock(m as usize);
                    self.check_sweep(ended);
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
                    self.when_awake(c as usize, HostAction::Start);
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
