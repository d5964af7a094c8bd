//! Renewal storm (issue 8): many agents' renewals arrive at one instant, as
//! after a failover, against a running `tenured`; real HTTP, no mocks.
//!
//! Every logical agent is the real sans-IO state machine
//! (`tenure_core::agent::Agent`), configured as the tokio driver configures it
//! (`AgentConfig::new`, 10 s request timeout; see `--max-sleep-s`), with its own
//! jitter seed drawn from a seeded SplitMix64. This program is its driver: it
//! hands each agent `Now`, sends what `poll_transmit` gives over HTTP and hands
//! the answer back, so every retry instant is the core's own (full-jitter
//! backoff from 1 s, A2, A4, on top of the answer's `Retry-After`, which is
//! read as the tokio driver reads it and handed to the agent). Requests
//! go out through the agent's own HTTP client
//! (`tenure_tokio::client::http_client`), taken in order by `--connections`
//! workers, one request each at a time, so at most that many keep-alive
//! connections. One process cannot open 100,000 sockets: the queue in front of
//! the workers stands in for the manager's accept queue. A request's deadline
//! is the agent's request timeout from when the agent queued it, as in the
//! tokio driver; one still queued at its deadline is not sent and counts as a
//! timeout (the agent has already timed it out and backed off).
//!
//! 1. Grant: each agent's first grant request is sent (`--grant-concurrency`
//!    at once) and answered; the agent is then `Licensed` and waiting to renew.
//! 2. Storm: the agents' monotonic clock is moved forward past the latest
//!    instant any of them renews (`renew_every * 1.1`), which is the same as
//!    every renewal timer firing at one instant: all agents queue their renewal
//!    at t = 0. Each agent is driven until its renewal succeeds, then left
//!    alone. Wall time is not moved, so `client_time_ms` stays true (T5).
//!
//! Prints counts by status and error code, transport errors, when agents
//! renewed, the spread of first attempts and retries in time, the manager's
//! RSS, CPU time, and the acceptance verdict (exit status 1 when it fails).
//!
//!   cargo run --release -p tenure-tokio --example storm -- \
//!       --url http://127.0.0.1:10091 --agents 100000 --server-pid PID

use clap::Parser;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenure_core::agent::{
    Agent, AgentConfig, Event, Request, RequestId, Response, State, TransportError,
    parse_retry_after,
};
use tenure_core::wire::RawGrantRequest;
use tenure_core::{Now, UnixMillis};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};

#[derive(Debug, Parser)]
#[command(about = "Renewal storm against a running tenured (issue 8)")]
struct Args {
    /// Manager base URL.
    #[arg(long)]
    url: String,
    /// Logical agents (one grant each).
    #[arg(long, default_value_t = 100_000)]
    agents: usize,
    /// Requests (so keep-alive connections) at once during the storm.
    #[arg(long, default_value_t = 1024)]
    connections: usize,
    /// Grant requests at once while granting.
    #[arg(long, default_value_t = 64)]
    grant_concurrency: usize,
    /// Seed of the generator that draws each agent's jitter seed.
    #[arg(long, default_value_t = 8)]
    seed: u64,
    /// Agent request timeout, as the tokio driver's default.
    #[arg(long, default_value_t = 10)]
    request_timeout_s: u64,
    /// Give up when the storm has not ended after this long.
    #[arg(long, default_value_t = 900)]
    max_storm_s: u64,
    /// Runtime worker threads of this program.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The agents' `max_sleep`. The tokio driver uses 1 s (`DRIVER_MAX_SLEEP`)
    /// so a host resumed from suspend notices wall time passing (T2). This
    /// program's clock never suspends, so the value changes no send instant,
    /// only how many no-op wake-ups this program spends CPU on (1 s: about
    /// 100,000 a second, taken from the manager's cores).
    #[arg(long, default_value_t = 60)]
    max_sleep_s: u64,
    /// The manager's process id, for RSS and CPU time from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Hostname prefix; agent i is `<prefix>-<i>`.
    #[arg(long, default_value = "storm")]
    hostname_prefix: String,
    #[arg(long, default_value = "production")]
    environment: String,
    #[arg(long, default_value = "vdp")]
    product: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let ok = rt.block_on(run(args))?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// The monotonic clock the agents see: real elapsed time plus `offset`, which
/// the storm moves forward once. Wall time is the system clock.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    offset: Duration,
}

impl Clock {
    fn now(&self) -> Now {
        Now::new(self.start.elapsed() + self.offset, wall_now())
    }

    fn instant_at(&self, mono: Duration) -> Instant {
        self.start + mono.saturating_sub(self.offset)
    }
}

fn wall_now() -> UnixMillis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    UnixMillis(ms)
}

/// Vigna's SplitMix64: the agents' seeds, reproducible from `--seed`.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What one HTTP exchange came to, for the tallies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16, Option<String>),
    /// Core timeout ran out before a connection was free (this program's queue).
    QueueTimeout,
    /// Core timeout ran out on the wire.
    WireTimeout,
    Transport(String),
}

impl Outcome {
    fn accepted(&self) -> bool {
        match self {
            Outcome::Status(200 | 201, _) => true,
            Outcome::Status(503, Some(code)) => code == "overloaded",
            _ => false,
        }
    }

    fn label(&self) -> String {
        match self {
            Outcome::Status(s, Some(c)) => format!("{s} {c}"),
            Outcome::Status(s, None) => format!("{s}"),
            Outcome::QueueTimeout => "timeout waiting for a client connection".into(),
            Outcome::WireTimeout => "timeout on the wire".into(),
            Outcome::Transport(e) => format!("transport error: {e}"),
        }
    }
}

/// One request as the tokio driver sends it (`agent/http.rs`), keeping the
/// status, error code and Retry-After for the tallies.
async fn send(
    http: &reqwest::Client,
    base: &str,
    request: &Request,
) -> (Result<Response, TransportError>, Outcome, Option<String>) {
    let builder = match request {
        Request::Grant(body) => http.post(format!("{base}/v1/grants")).json(body),
        Request::Renew {
            grant_id,
            client_time_ms,
        } => http
            .post(format!("{base}/v1/grants/{grant_id}/renew"))
            .json(&serde_json::json!({ "client_time_ms": client_time_ms })),
        Request::Release { grant_id } => http.delete(format!("{base}/v1/grants/{grant_id}")),
    };
    let transport = |e: reqwest::Error| {
        let kind = if e.is_timeout() {
            TransportError::Timeout
        } else if e.is_connect() {
            TransportError::Connect
        } else {
            TransportError::Io
        };
        let text = format!("{kind:?}: {e}");
        (Err(kind), Outcome::Transport(text), None)
    };
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => return transport(e),
    };
    let status = response.status().as_u16();
    let header = response.headers().get(reqwest::header::RETRY_AFTER);
    let retry_after = header.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let pause = header.and_then(|v| parse_retry_after(v.as_bytes()));
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .cloned();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return transport(e),
    };
    let result = Response::decode(
        status,
        content_type.as_ref().map(|v| v.as_bytes()),
        pause,
        &body,
    );
    let code = match &result {
        Ok(Response::Error { body: Some(b), .. }) => Some(b.error.to_string()),
        _ => None,
    };
    let outcome = match result {
        Err(TransportError::Malformed) => Outcome::Transport("malformed answer".into()),
        _ => Outcome::Status(status, code),
    };
    (result, outcome, retry_after)
}

fn proc_status(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or("?".into(), |kb| format!("{:.0} MiB", kb as f64 / 1024.0))
    };
    format!("VmRSS {} (VmHWM {})", field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds of a process (clock ticks of 100 Hz).
fn cpu_s(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// What every agent's configuration is made from.
#[derive(Debug, Clone)]
struct Fleet {
    environment: String,
    product: String,
    prefix: String,
    request_timeout: Duration,
    max_sleep: Duration,
}

impl Fleet {
    /// Agent `i`, configured as the tokio driver configures one.
    fn config(&self, i: usize) -> anyhow::Result<AgentConfig> {
        let request = RawGrantRequest {
            environment: Some(self.environment.clone()),
            product: Some(self.product.clone()),
            hostname: Some(format!("{}-{i}", self.prefix)),
            port: Some(9999),
            ip: None,
            cores: Some(1),
            version: Some("9.1.0".into()),
            client_time_ms: None,
        }
        .validate()?;
        let mut config = AgentConfig::new(request, 1);
        config.request_timeout = self.request_timeout;
        config.max_sleep = self.max_sleep;
        Ok(config)
    }
}

/// Phase 1: every agent's first grant, `concurrency` at once. An agent whose
/// grant is not 201 is made again (counted); this phase only sets up.
async fn grant_all(
    fleet: &Fleet,
    base: &str,
    clock: Clock,
    seeds: Arc<Vec<u64>>,
    concurrency: usize,
) -> anyhow::Result<Vec<Agent>> {
    let n = seeds.len();
    let http = tenure_tokio::client::http_client(None, fleet.request_timeout)?;
    let next = Arc::new(AtomicUsize::new(0));
    let remade = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Agent)>();
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, next, remade, tx) = (http.clone(), next.clone(), remade.clone(), tx.clone());
        let (base, fleet, seeds) = (base.to_owned(), fleet.clone(), seeds.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let mut tries = 0;
                loop {
                    tries += 1;
                    let mut agent = Agent::new(fleet.config(i)?, clock.now(), seeds[i]);
                    let Some(t) = agent.poll_transmit() else {
                        anyhow::bail!("agent {i} queued no grant request");
                    };
                    let (result, outcome, _) = send(&http, &base, &t.request).await;
                    agent.handle_response(clock.now(), t.id, result);
                    while agent.poll_event().is_some() {}
                    if agent.grant_id().is_some() {
                        let _ = tx.send((i, agent));
                        break;
                    }
                    if tries >= 20 {
                        anyhow::bail!("agent {i}: grant failed 20 times, last {}", outcome.label());
                    }
                    remade.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    drop(tx);
    let mut agents: Vec<Option<Agent>> = (0..n).map(|_| None).collect();
    let mut got = 0usize;
    let step = (n / 10).max(1);
    while let Some((i, agent)) = rx.recv().await {
        agents[i] = Some(agent);
        got += 1;
        if got.is_multiple_of(step) {
            let s = started.elapsed().as_secs_f64();
            println!("  granted {got} in {s:.1} s ({:.0}/s)", got as f64 / s);
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "granted {got} agents in {took:.1} s ({:.0} grants/s at concurrency {concurrency}); {} grant requests remade after a non-201",
        got as f64 / took,
        remade.load(Ordering::Relaxed)
    );
    agents
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.ok_or_else(|| anyhow::anyhow!("agent {i} was never granted")))
        .collect()
}

/// Once a second: CPU seconds used by the manager and by this program, and
/// how long a `GET /pingLicenseManager` on its own connection took (ms), as a
/// probe of the manager's responsiveness outside the storm's connections.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    manager_cpu: f64,
    own_cpu: f64,
    ping_ms: f64,
}

fn sampler(
    base: Arc<str>,
    pid: Option<u32>,
    t0: Instant,
    out: Arc<Mutex<Vec<Sample>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(http) = tenure_tokio::client::http_client(None, Duration::from_secs(10)) else {
            return;
        };
        let url = format!("{base}/pingLicenseManager");
        let mut k = 1u32;
        let (mut m0, mut o0) = (pid.map_or(0.0, |p| cpu_s(&p.to_string())), cpu_s("self"));
        loop {
            sleep_until(t0 + Duration::from_secs(u64::from(k))).await;
            k += 1;
            let started = Instant::now();
            let ok = matches!(http.get(&url).send().await, Ok(r) if r.status().is_success());
            let ping_ms = if ok {
                started.elapsed().as_secs_f64() * 1000.0
            } else {
                f64::NAN
            };
            let (m1, o1) = (pid.map_or(0.0, |p| cpu_s(&p.to_string())), cpu_s("self"));
            if let Ok(mut out) = out.lock() {
                out.push(Sample {
                    manager_cpu: m1 - m0,
                    own_cpu: o1 - o0,
                    ping_ms,
                });
            }
            (m0, o0) = (m1, o1);
        }
    })
}

/// Counts in one second of the storm.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    first_queued: u32,
    retries_queued: u32,
    on_wire: u32,
    ok: u32,
    overloaded: u32,
    other: u32,
}

impl Second {
    fn add(mut self, b: &Second) -> Second {
        self.first_queued += b.first_queued;
        self.retries_queued += b.retries_queued;
        self.on_wire += b.on_wire;
        self.ok += b.ok;
        self.overloaded += b.overloaded;
        self.other += b.other;
        self
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A request waiting for a connection.
struct Job {
    agent: u32,
    transmit: tenure_core::agent::Transmit,
    queued_at: Duration,
    deadline: Instant,
}

/// `connections` workers, each one request at a time (so at most that many
/// keep-alive connections in the agent's HTTP client), taking the queued
/// requests in order. A request whose agent's timeout has already passed is
/// not sent: the agent timed it out itself (its own `poll_timeout`) and has
/// moved on, as a real agent's would have.
fn connection_workers(
    connections: usize,
    http: &reqwest::Client,
    base: &Arc<str>,
    jobs: mpsc::UnboundedReceiver<Job>,
    answers: &mpsc::UnboundedSender<Answer>,
    t0: Instant,
) -> tokio::task::JoinSet<()> {
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (http, base, jobs, tx) = (http.clone(), base.clone(), jobs.clone(), answers.clone());
        set.spawn(async move {
            loop {
                let Some(job) = jobs.lock().await.recv().await else {
                    return;
                };
                let mut answer = Answer {
                    agent: job.agent,
                    id: job.transmit.id,
                    result: Err(TransportError::Timeout),
                    outcome: Outcome::QueueTimeout,
                    retry_after: None,
                    queued_at: job.queued_at,
                    wire_at: None,
                    took: Duration::ZERO,
                };
                let on_wire = Instant::now();
                if on_wire < job.deadline {
                    answer.wire_at = Some(on_wire.duration_since(t0));
                    match timeout_at(job.deadline, send(&http, &base, &job.transmit.request)).await
                    {
                        Ok((result, outcome, retry_after)) => {
                            answer.result = result;
                            answer.outcome = outcome;
                            answer.retry_after = retry_after;
                        }
                        Err(_) => answer.outcome = Outcome::WireTimeout,
                    }
                    answer.took = on_wire.elapsed();
                }
                let _ = tx.send(answer);
            }
        });
    }
    set
}

struct Answer {
    agent: u32,
    id: RequestId,
    result: Result<Response, TransportError>,
    outcome: Outcome,
    retry_after: Option<String>,
    /// When the agent queued it, since t = 0.
    queued_at: Duration,
    /// When a connection took it, since t = 0.
    wire_at: Option<Duration>,
    /// Time on the wire.
    took: Duration,
}

/// Phase 2: the driver of every agent at once.
struct Storm {
    t0: Instant,
    clock: Clock,
    base: Arc<str>,
    jobs: mpsc::UnboundedSender<Job>,
    request_timeout: Duration,
    agents: Vec<Agent>,
    /// Renewal requests each agent queued.
    attempts: Vec<u32>,
    renewed_at: Vec<Option<Duration>>,
    /// The wake-up instant in `heap` that is current for each agent.
    scheduled: Vec<Duration>,
    heap: BinaryHeap<Reverse<(Duration, u32)>>,
    seconds: Vec<Second>,
    /// Retries queued per 100 ms since t = 0.
    retry_deciseconds: Vec<u32>,
    /// When retry number k (index k - 1) was queued, over all agents.
    retry_times: Vec<Vec<f64>>,
    outcomes: BTreeMap<Outcome, u64>,
    retry_after: BTreeMap<String, u64>,
    events: BTreeMap<&'static str, u64>,
    wire_ms: Vec<f64>,
    wire_ms_503: Vec<f64>,
    queue_s: Vec<f64>,
    in_flight: usize,
    max_in_flight: usize,
    left: usize,
    wakeups: u64,
}

impl Storm {
    fn second(&mut self, t: Duration) -> &mut Second {
        let s = usize::try_from(t.as_secs())
            .unwrap_or(usize::MAX)
            .min(100_000);
        if self.seconds.len() <= s {
            self.seconds.resize(s + 1, Second::default());
        }
        &mut self.seconds[s]
    }

    /// Sends what agent `i` queued, tallies its events, and schedules its next
    /// wake-up. A renewed agent next renews in minutes and is left alone.
    fn after(&mut self, i: usize) {
        let since = self.t0.elapsed();
        while let Some(t) = self.agents[i].poll_transmit() {
            if matches!(t.request, Request::Renew { .. }) {
                let retry = self.attempts[i] as usize;
                let s = self.second(since);
                if retry == 0 {
                    s.first_queued += 1;
                } else {
                    s.retries_queued += 1;
                    let d = usize::try_from(since.as_millis() / 100)
                        .unwrap_or(usize::MAX)
                        .min(1_000_000);
                    if self.retry_deciseconds.len() <= d {
                        self.retry_deciseconds.resize(d + 1, 0);
                    }
                    self.retry_deciseconds[d] += 1;
                    if self.retry_times.len() < retry {
                        self.retry_times.resize(retry, Vec::new());
                    }
                    self.retry_times[retry - 1].push(since.as_secs_f64());
                }
                self.attempts[i] += 1;
            } else {
                *self.events.entry("other request queued").or_default() += 1;
            }
            self.spawn(i, t, since);
        }
        while let Some(e) = self.agents[i].poll_event() {
            let name = match e {
                Event::Renewed { .. } | Event::Recovered { .. } => {
                    if self.renewed_at[i].is_none() {
                        self.renewed_at[i] = Some(since);
                        self.left -= 1;
                    }
                    "renewed"
                }
                Event::Started { .. } => "started (unexpected)",
                Event::Regranted { .. } => "regranted after 404",
                Event::GraceEntered { .. } => "grace entered",
                Event::GraceOneDayLeft | Event::GraceOneHourLeft => "grace warning",
                Event::MustStop(_) => "must stop",
                Event::ClockStepped { .. } => "clock stepped",
                Event::Rejected { .. } => "rejected",
            };
            *self.events.entry(name).or_default() += 1;
        }
        if self.renewed_at[i].is_some() || !self.agents[i].is_running() {
            self.scheduled[i] = Duration::MAX;
            return;
        }
        if let Some(w) = self.agents[i].poll_timeout()
            && w != self.scheduled[i]
        {
            self.scheduled[i] = w;
            self.heap.push(Reverse((w, i as u32)));
        }
    }

    /// Queues one request for the connection workers. Its deadline is the
    /// agent's own request timeout, counted from when the agent queued it.
    fn spawn(&mut self, i: usize, t: tenure_core::agent::Transmit, queued_at: Duration) {
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
        let _ = self.jobs.send(Job {
            agent: i as u32,
            transmit: t,
            queued_at,
            deadline: Instant::now() + self.request_timeout,
        });
    }

    fn answered(&mut self, a: Answer) {
        self.in_flight -= 1;
        let since = self.t0.elapsed();
        let s = self.second(since);
        match &a.outcome {
            Outcome::Status(200, _) => s.ok += 1,
            Outcome::Status(503, Some(c)) if c == "overloaded" => s.overloaded += 1,
            _ => s.other += 1,
        }
        if let Some(w) = a.wire_at {
            self.second(w).on_wire += 1;
            let ms = a.took.as_secs_f64() * 1000.0;
            if let Outcome::Status(503, _) = a.outcome {
                self.wire_ms_503.push(ms);
            } else {
                self.wire_ms.push(ms);
            }
        }
        let waited = a.wire_at.unwrap_or(since).saturating_sub(a.queued_at);
        self.queue_s.push(waited.as_secs_f64());
        if let Outcome::Status(503, _) = a.outcome {
            let ra = a.retry_after.unwrap_or_else(|| "missing".into());
            *self.retry_after.entry(ra).or_default() += 1;
        }
        *self.outcomes.entry(a.outcome).or_default() += 1;
        let i = a.agent as usize;
        self.agents[i].handle_response(self.clock.now(), a.id, a.result);
        self.after(i);
    }

    /// Hands every due agent `handle_timeout`; returns when the next one is due.
    fn due(&mut self) -> Option<Instant> {
        let now = self.clock.now();
        while let Some(Reverse((w, i))) = self.heap.peek().copied() {
            if w > now.mono {
                return Some(self.clock.instant_at(w));
            }
            self.heap.pop();
            let i = i as usize;
            if self.scheduled[i] != w {
                continue;
            }
            self.scheduled[i] = Duration::MAX;
            self.wakeups += 1;
            self.agents[i].handle_timeout(now);
            self.after(i);
        }
        None
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let base: Arc<str> = args.url.trim_end_matches('/').into();
    let n = args.agents;
    anyhow::ensure!(n > 0 && n < u32::MAX as usize, "--agents out of range");
    let pid = args.server_pid;
    let rss = |when: &str| {
        if let Some(pid) = pid {
            println!("manager {when}: {}", proc_status(pid));
        }
    };
    println!(
        "storm: {n} agents, {} connections, grant concurrency {}, seed {}, {} client threads, agent request timeout {} s, max_sleep {} s, {base}",
        args.connections,
        args.grant_concurrency,
        args.seed,
        args.threads,
        args.request_timeout_s,
        args.max_sleep_s
    );
    rss("before granting");
    let mut rng = SplitMix64(args.seed);
    let seeds: Arc<Vec<u64>> = Arc::new((0..n).map(|_| rng.next_u64()).collect());
    let fleet = Fleet {
        environment: args.environment.clone(),
        product: args.product.clone(),
        prefix: args.hostname_prefix.clone(),
        request_timeout: Duration::from_secs(args.request_timeout_s),
        max_sleep: Duration::from_secs(args.max_sleep_s),
    };
    let mut clock = Clock {
        start: Instant::now(),
        offset: Duration::ZERO,
    };

    let agents = grant_all(&fleet, &base, clock, seeds, args.grant_concurrency).await?;
    rss("after granting");

    // Move the agents' monotonic clock past every agent's renewal instant.
    let mut jump = Duration::ZERO;
    let mut lease_ttl = Duration::MAX;
    for a in &agents {
        if let State::Licensed { lease } = a.state() {
            jump = jump.max(lease.renew_every * 11 / 10 + Duration::from_secs(1));
            lease_ttl = lease_ttl.min(lease.lease_ttl);
        }
    }
    clock.offset = jump;
    println!(
        "storm: agents' monotonic clock moved {} s forward (renew_every * 1.1 + 1 s; lease_ttl {} s): every renewal is due at t = 0",
        jump.as_secs(),
        lease_ttl.as_secs()
    );
    let srv_cpu0 = pid.map_or(0.0, |p| cpu_s(&p.to_string()));
    let own_cpu0 = cpu_s("self");
    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel::<Job>();
    let t0 = Instant::now();
    let http = tenure_tokio::client::http_client(None, fleet.request_timeout)?;
    let mut workers = connection_workers(args.connections, &http, &base, jobs_rx, &tx, t0);
    drop(tx);
    let mut storm = Storm {
        t0,
        clock,
        base,
        jobs: jobs_tx,
        request_timeout: fleet.request_timeout,
        agents,
        attempts: vec![0; n],
        renewed_at: vec![None; n],
        scheduled: vec![Duration::MAX; n],
        heap: BinaryHeap::with_capacity(n * 2),
        seconds: Vec::new(),
        retry_deciseconds: Vec::new(),
        retry_times: Vec::new(),
        outcomes: BTreeMap::new(),
        retry_after: BTreeMap::new(),
        events: BTreeMap::new(),
        wire_ms: Vec::new(),
        wire_ms_503: Vec::new(),
        queue_s: Vec::new(),
        in_flight: 0,
        max_in_flight: 0,
        left: n,
        wakeups: 0,
    };

    let samples = Arc::new(Mutex::new(Vec::new()));
    let probe = sampler(storm.base.clone(), pid, storm.t0, samples.clone());
    // t = 0: every renewal timer fires at once.
    let now = storm.clock.now();
    for i in 0..n {
        storm.agents[i].handle_timeout(now);
        storm.after(i);
    }
    println!(
        "storm: {} renewals queued at t = 0 (in {:.3} s)",
        storm.seconds.first().map_or(0, |s| s.first_queued),
        storm.t0.elapsed().as_secs_f64()
    );
    let give_up = storm.t0 + Duration::from_secs(args.max_storm_s);
    let mut gave_up = false;
    loop {
        while let Ok(a) = rx.try_recv() {
            storm.answered(a);
        }
        let wake = storm.due().unwrap_or(give_up).min(give_up);
        if storm.left == 0 && storm.in_flight == 0 {
            break;
        }
        if Instant::now() >= give_up {
            gave_up = true;
            break;
        }
        tokio::select! {
            Some(a) = rx.recv() => storm.answered(a),
            () = sleep_until(wake) => {}
        }
    }
    let took = storm.t0.elapsed();
    workers.abort_all();
    let srv_cpu = pid.map_or(0.0, |p| cpu_s(&p.to_string())) - srv_cpu0;
    let own_cpu = cpu_s("self") - own_cpu0;
    probe.abort();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    report(&storm, &samples, took, gave_up, srv_cpu, own_cpu, pid, &rss)
}

#[allow(clippy::too_many_arguments)]
fn report(
    storm: &Storm,
    samples: &[Sample],
    took: Duration,
    gave_up: bool,
    srv_cpu: f64,
    own_cpu: f64,
    pid: Option<u32>,
    rss: &dyn Fn(&str),
) -> anyhow::Result<bool> {
    let n = storm.agents.len();
    println!();
    println!(
        "storm over in {:.1} s{}",
        took.as_secs_f64(),
        if gave_up {
            " (GAVE UP: --max-storm-s)"
        } else {
            ""
        }
    );
    rss("after the storm");
    if pid.is_some() {
        println!(
            "CPU time during the storm: manager {srv_cpu:.1} s, this program {own_cpu:.1} s (wall {:.1} s, 2 cores)",
            took.as_secs_f64()
        );
    }
    let total: u64 = storm.outcomes.values().sum();
    println!(
        "answers: {total} (most requests in flight or queued at once: {}; agent timer wake-ups: {})",
        storm.max_in_flight, storm.wakeups
    );
    for (o, c) in &storm.outcomes {
        let mark = if o.accepted() { "" } else { "   <- failure" };
        println!("  {:<44} {c:>9}{mark}", o.label());
    }
    if !storm.retry_after.is_empty() {
        let ra: Vec<String> = storm
            .retry_after
            .iter()
            .map(|(k, v)| format!("{k} s: {v}"))
            .collect();
        println!("  Retry-After on the 503s: {}", ra.join(", "));
    }
    let ev: Vec<String> = storm
        .events
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("agent events: {}", ev.join(", "));

    let renewed = storm.renewed_at.iter().filter(|r| r.is_some()).count();
    let mut times: Vec<f64> = storm
        .renewed_at
        .iter()
        .flatten()
        .map(Duration::as_secs_f64)
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "renewed: {renewed} of {n}; time from t = 0 to an agent's successful renewal p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, last {:.2} s",
        pct(&times, 0.5),
        pct(&times, 0.9),
        pct(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN)
    );
    let mut by_attempts: BTreeMap<u32, u64> = BTreeMap::new();
    for a in &storm.attempts {
        *by_attempts.entry(*a).or_default() += 1;
    }
    let total_retries: u64 = storm
        .attempts
        .iter()
        .map(|a| u64::from(a.saturating_sub(1)))
        .sum();
    let max_retries = storm
        .attempts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_sub(1);
    println!(
        "retries: {total_retries} in all, at most {max_retries} by one agent; agents by renewal attempts: {}",
        by_attempts
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut wire = storm.wire_ms.clone();
    let mut wire503 = storm.wire_ms_503.clone();
    let mut queue = storm.queue_s.clone();
    wire.sort_by(f64::total_cmp);
    wire503.sort_by(f64::total_cmp);
    queue.sort_by(f64::total_cmp);
    println!(
        "time on the wire: 503 p50 {:.1} ms, p99 {:.1} ms; others p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&wire503, 0.5),
        pct(&wire503, 0.99),
        pct(&wire, 0.5),
        pct(&wire, 0.99),
        wire.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "wait for a free client connection: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        pct(&queue, 0.5),
        pct(&queue, 0.99),
        queue.last().copied().unwrap_or(f64::NAN)
    );

    let width = storm.seconds.len().div_ceil(60).max(1);
    println!();
    println!(
        "Per {width} s from t = 0: renewals queued by the agents (first attempt, retry), requests put on the wire, answers."
    );
    println!();
    println!(
        "| t (s) | first attempts | retries | on the wire | 200 | 503 overloaded | other | manager CPU | tool CPU | ping ms (max) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (k, chunk) in storm.seconds.chunks(width).enumerate() {
        let s = chunk.iter().fold(Second::default(), Second::add);
        let from = (k * width).min(samples.len());
        let to = ((k + 1) * width).min(samples.len());
        let probe = &samples[from..to];
        let cpu = |f: fn(&Sample) -> f64| {
            if probe.is_empty() {
                "-".to_owned()
            } else {
                let used: f64 = probe.iter().map(f).sum();
                format!("{:.0} %", 100.0 * used / probe.len() as f64)
            }
        };
        let ping = probe
            .iter()
            .map(|p| p.ping_ms)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| {
                    if v.is_nan() || a.is_nan() {
                        f64::NAN
                    } else {
                        a.max(v)
                    }
                }))
            })
            .map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "| {}-{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k * width,
            (k + 1) * width,
            s.first_queued,
            s.retries_queued,
            s.on_wire,
            s.ok,
            s.overloaded,
            s.other,
            cpu(|p| p.manager_cpu),
            cpu(|p| p.own_cpu),
            ping
        );
    }
    println!();
    println!("When the agents queued retry number k (seconds from t = 0):");
    println!();
    println!("| retry | agents | first | p10 | p50 | p90 | last |");
    println!("|---|---|---|---|---|---|---|");
    for (k, times) in storm.retry_times.iter().enumerate() {
        let mut t = times.clone();
        t.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            k + 1,
            t.len(),
            t.first().copied().unwrap_or(f64::NAN),
            pct(&t, 0.1),
            pct(&t, 0.5),
            pct(&t, 0.9),
            t.last().copied().unwrap_or(f64::NAN)
        );
    }
    // A synchronised herd puts a whole wave of retries in one instant, as the
    // first attempts are (100 % at t = 0).
    let busiest = storm.retry_deciseconds.iter().copied().max().unwrap_or(0);
    let active = storm.retry_deciseconds.iter().filter(|r| **r > 0).count();
    let share = if total_retries == 0 {
        0.0
    } else {
        100.0 * f64::from(busiest) / total_retries as f64
    };
    println!();
    println!(
        "retries fall in {active} distinct 100 ms windows; the busiest holds {busiest} of {total_retries} ({share:.1} %)"
    );

    let failures: u64 = storm
        .outcomes
        .iter()
        .filter(|(o, _)| !o.accepted())
        .map(|(_, c)| *c)
        .sum();
    // Spread: no 100 ms window holds more than a tenth of all retries.
    let spread = total_retries == 0 || share <= 10.0;
    let ok = failures == 0 && renewed == n && !gave_up && spread;
    println!(
        "acceptance: {failures} answers other than 200 / 503 overloaded (transport errors and timeouts included); every agent renewed: {}; retries spread in time: {spread} => {}",
        renewed == n,
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}
