//! What one run does: the population, the settings, the network, the clocks,
//! the fault schedule, the planted bugs and the scenario's own expectations.

use tenure_core::ErrorCode;

pub const SEC: u64 = 1000;
pub const MIN: u64 = 60 * SEC;
pub const HOUR: u64 = 60 * MIN;
pub const DAY: u64 = 24 * HOUR;

/// One direction-symmetric link: delay, jitter, loss, duplication (netem-like).
/// Reordering comes from jitter: two messages can overtake each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub loss_ppm: u32,
    pub dup_ppm: u32,
}

impl Link {
    pub const LAN: Link = Link {
        delay_ms: 1,
        jitter_ms: 2,
        loss_ppm: 0,
        dup_ppm: 0,
    };
}

/// HAProxy-style health checking of the two managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbConfig {
    pub inter_ms: u64,
    pub fall: u32,
    pub rise: u32,
}

impl Default for LbConfig {
    fn default() -> Self {
        Self {
            inter_ms: 2 * SEC,
            fall: 3,
            rise: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Comp(usize),
    Mgr(usize),
    Db,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    MgrCrash(usize),
    MgrRestart(usize),
    MgrHang(usize),
    MgrUnhang(usize),
    DbDown,
    DbUp,
    /// Manager `m` cannot reach the database (true) or can again (false).
    MgrDbCut(usize, bool),
    /// Load balancer to manager `m` and back: `to_mgr`, `to_lb` blocked or not.
    LbCut {
        m: usize,
        to_mgr: bool,
        to_lb: bool,
    },
    /// Components `from..to`: requests (`up`) and answers (`down`) blocked or not.
    CompCut {
        from: usize,
        to: usize,
        up: bool,
        down: bool,
    },
    CompCrash(usize),
    /// The host stops component `c` cleanly (A5): the agent releases the
    /// grant it holds and sends nothing else. `CompRestart` starts it again.
    CompStop(usize),
    CompRestart(usize),
    /// Crash components `from..to` now and restart them all within `spread_ms`
    /// after `after_ms`: a burst of racing grant requests.
    CrashBurst {
        from: usize,
        to: usize,
        after_ms: u64,
        spread_ms: u64,
    },
    AdminRevoke(usize),
    AdminRelease(usize),
    ClockStep(Host, i64),
    Suspend(usize),
    /// A VM-style pause of component `c`: the host runs nothing and its
    /// monotonic clock stops, CLOCK_BOOTTIME too; its wall clock is right
    /// again once it runs (kvmclock or NTP). `Resume` ends it.
    Pause(usize),
    Resume(usize),
    Flapping(bool),
    /// An operator installs a new license (same limits) valid until `not_after_ms`
    /// of true time (as read on a perfect clock), and from `not_before_ms`
    /// (a license not yet valid when that is ahead: M7).
    InstallLicense {
        not_after_ms: u64,
        not_before_ms: u64,
    },
    /// A proxy or WAF in front of the managers answers every request with
    /// `status` and an HTML page (no Tenure body, A4) until `until_ms`.
    ProxyAnswers {
        status: u16,
        until_ms: u64,
    },
    /// Every manager answers the agents' grant requests (`grants_only`) or
    /// all their requests but releases with the Tenure error `code` until
    /// `until_ms`: an agent token rotated away (401 `unauthorized`), a
    /// manager of another version refusing older agents' grants (400
    /// `bad_request`). A4 says which of them stop a component.
    ManagersRefuse {
        code: ErrorCode,
        grants_only: bool,
        until_ms: u64,
    },
    /// Nothing changes; health bookkeeping is refreshed (used at license expiry).
    Mark,
}

/// A known bug the simulator must catch, planted at a seam the simulator owns
/// (a store wrapper, the agent's clock, the wire between the agent and the
/// network, the request a manager sees) so that the code under test is the
/// real code; each behaves as the product would with that bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// Slots are held only until `last_renewed + lease_ttl` (M2 without grace).
    ReclaimAtLeaseTtl,
    /// Slots are held until `last_renewed + grace`, without the reclaim
    /// margin that covers a component's slow clock (M2, M9).
    NoReclaimMargin,
    /// The agent's monotonic reading is derived from its wall clock (T1, T2).
    WallClockGrace,
    /// Managers read the pool view in one transaction and commit the decision
    /// computed from it in a later one (a grant check not serialised, M1).
    UnserialisedGrant,
    /// The agent reads the bare CLOCK_MONOTONIC, which stops while the host
    /// is suspended (Tenure's drivers add the suspended time).
    BareMonotonic,
    /// The agent takes a grace period one hour longer than the license's (A8).
    LongAgentGrace,
    /// The agent takes a proxy's 403 page for a Tenure denial (A4).
    ProxyAnswerDecides,
    /// The manager keys an instance by more than its identity, so two
    /// processes claiming one instance hold two slots (M3).
    TwinsApart,
    /// Manager processes register without a random nonce, so a second
    /// process given a live one's node id takes it for itself (M6).
    NoNonce,
    /// The agent's wall reading is derived from its monotonic clock, so the
    /// wall-clock term of T2 never sees a VM pause.
    MonotonicOnlyGrace,
    /// Storage keeps no high-water mark, so a clock set back makes an
    /// expired license valid again (T3).
    LostHighWater,
}

/// Scenario-specific outcomes checked after the run (on top of I1-I10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Nothing,
    NoStops,
    /// Every component running at `from` stops once with grace expired, at its
    /// own deadline (never earlier), and all run again by `liveness_at`.
    AllStopAtDeadline {
        from: u64,
    },
    /// No component even enters grace; I5 is measured.
    NoGrace,
    /// Both managers granted, some grants were refused for the limit.
    Racing,
    /// `stepped_back` stops at its own true deadline; `early` stops (a forward
    /// step only shortens grace); `late_resume` stops right after it resumes;
    /// nobody else stops.
    ClockSkew {
        stepped_back: usize,
        early: Option<usize>,
        late_resume: Option<usize>,
    },
    /// `restarted` components never run before `heal`; nobody is denied.
    RestartInGrace {
        restarted: Vec<usize>,
        heal: u64,
    },
    CrashReclaim {
        crashed: usize,
        restarted: usize,
        restarted_at: u64,
        released: usize,
        released_at: u64,
        spares: Vec<usize>,
    },
    /// Nothing succeeds after `not_after`; everybody stops by their grace
    /// deadline; after the new license everybody runs again.
    LicenseExpiry {
        not_after: u64,
    },
    /// `stopped` stops cleanly at `at`; `spare`, refused for the limit until
    /// then, runs within `within` of it (the release freed the slot: no
    /// lease had to run out); nobody stops for any other reason.
    CleanStop {
        stopped: usize,
        spare: usize,
        at: u64,
        within: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scenario: String,
    pub seed: u64,
    pub components: usize,
    pub end_ms: u64,
    pub grace_s: u64,
    pub renew_every_s: u64,
    pub lease_ttl_s: u64,
    pub reclaim_margin_s: u64,
    pub max_servers: Option<u64>,
    pub max_total_cores: Option<u64>,
    pub max_cores_per_server: Option<u64>,
    /// Cores of every component's host, but those listed here.
    pub cores: u32,
    pub host_cores: Vec<(usize, u32)>,
    pub max_managers: u32,
    /// License `not_after`, as true time on a perfect clock.
    pub not_after_ms: u64,
    pub comp_link: Link,
    pub mgr_link: [Link; 2],
    pub lb: LbConfig,
    pub flapping: bool,
    /// Component clocks: offset drawn in `[-x, x]` ms, drift in `[-p, p]` ppm
    /// (in `[p, 0]` when `p` is negative: every clock slow).
    pub comp_offset_ms: i64,
    pub comp_ppm: i64,
    pub mgr_offset_ms: [i64; 2],
    pub mgr_ppm: [i64; 2],
    pub db_ppm: i64,
    /// Component `i` first starts at a time drawn in `[0, start_spread_ms]`,
    /// or at the time given here.
    pub start_spread_ms: u64,
    pub late_starts: Vec<(usize, u64)>,
    /// A supervisor restarts a component this long (plus up to 10 %) after it
    /// had to stop; `None`: it stays stopped.
    pub restart_after_stop_ms: Option<u64>,
    pub faults: Vec<(u64, Fault)>,
    /// When everything has healed: the liveness check runs at this time.
    pub liveness_at: Option<u64>,
    pub measure_failover: bool,
    /// The planted bug, for the teeth tests only.
    pub bug: Option<Bug>,
    /// Component `b` claims the same instance (hostname and port) as `a`
    /// for every `(a, b)`: twins (M3, I10).
    pub twins: Vec<(usize, usize)>,
    /// Both manager processes are given one node id (M6).
    pub node_clash: bool,
    /// No balancer: every agent is given both managers' URLs and picks one
    /// itself (A6's rotation). The balancer's cuts then cut the component's
    /// path to that manager.
    pub direct: bool,
    pub expect: Expect,
    /// Stop at the first violation (faster for the swarm and the teeth tests).
    pub stop_on_violation: bool,
}

impl Plan {
    /// Defaults of docs/protocol.md section 9 with a LAN and perfect clocks.
    pub fn base(scenario: &str, seed: u64, components: usize, days: u64) -> Self {
        Self {
            scenario: scenario.into(),
            seed,
            components,
            end_ms: days * DAY,
            grace_s: 432_000,
            renew_every_s: 300,
            lease_ttl_s: 900,
            reclaim_margin_s: 600,
            max_servers: Some(components as u64),
            max_total_cores: None,
            max_cores_per_server: None,
            cores: 4,
            host_cores: Vec::new(),
            max_managers: 2,
            not_after_ms: 365 * DAY,
            comp_link: Link::LAN,
            mgr_link: [Link::LAN, Link::LAN],
            lb: LbConfig::default(),
            flapping: false,
            comp_offset_ms: 0,
            comp_ppm: 0,
            mgr_offset_ms: [0, 0],
            mgr_ppm: [0, 0],
            db_ppm: 0,
            start_spread_ms: MIN,
            late_starts: Vec::new(),
            restart_after_stop_ms: None,
            faults: Vec::new(),
            liveness_at: None,
            measure_failover: false,
            bug: None,
            twins: Vec::new(),
            node_clash: false,
            direct: false,
            expect: Expect::Nothing,
            stop_on_violation: false,
        }
    }

    pub fn grace_ms(&self) -> u64 {
        self.grace_s * SEC
    }

    /// How long storage holds a slot after its last renewal (M2): the
    /// license's grace period and the reclaim margin, as the plan set them.
    pub fn hold_ms(&self) -> u64 {
        self.grace_ms() + self.reclaim_margin_s * SEC
    }

    pub fn at(&mut self, t: u64, f: Fault) {
        self.faults.push((t, f));
    }
}
