//! `tenure-storm`, the renewal storm: many agents' renewals arrive at one instant, as
//! after a failover, against a running `tenured`; real HTTP, no mocks.
//!
//! Every logical agent is the real sans-IO state machine
//! (`tenure_core::agent::Agent`), configured as `tenure_agent::Agent` configures
//! it (`AgentConfig::new`, 10 s request timeout; see `--max-sleep-s`), with its own
//! jitter seed drawn from a seeded SplitMix64. This program is its driver: it
//! hands each agent `Now`, sends what `poll_transmit` gives over HTTP and hands
//! the answer back, so every retry instant is the core's own (full-jitter
//! backoff from 1 s, A2, A4, on top of the answer's `Retry-After`). Requests
//! are mapped to HTTP and answers back to the core by the agent's own
//! mapping (`tenure_agent::http`) and go out through its tokio HTTP client
//! (`TokioRuntime::http_client`), taken in order by `--connections`
//! workers, one request each at a time, so at most that many keep-alive
//! connections. One process cannot open 100,000 sockets: the queue in front of
//! the workers stands in for the manager's accept queue. A request's deadline
//! is the agent's request timeout from when the agent queued it, as in the
//! agent's driver; one still queued at its deadline is not sent and counts as a
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
//!   cargo run --release -p tenure-e2e --bin tenure-storm -- \
//!       --url http://127.0.0.1:10091 --agents 100000 --server-pid PID

mod grant;
mod probe;
mod report;
mod storm;
mod wire;

use grant::{Fleet, SplitMix64, grant_all};
use probe::{cpu_s, proc_status, sampler};
use report::report;
use storm::Storm;
use wire::{Answer, Job, connection_workers};

use clap::Parser;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenure_agent::Runtime;
use tenure_agent::runtime::TokioRuntime;
use tenure_core::Now;
use tenure_core::agent::State;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

#[derive(Debug, Parser)]
#[command(about = "Renewal storm against a running tenured")]
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
    /// Agent request timeout, as the agent's default.
    #[arg(long, default_value_t = 10)]
    request_timeout_s: u64,
    /// Give up when the storm has not ended after this long.
    #[arg(long, default_value_t = 900)]
    max_storm_s: u64,
    /// Runtime worker threads of this program.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The agents' `max_sleep`. The agent's driver uses 1 s (`DRIVER_MAX_SLEEP`)
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
pub struct Clock {
    pub start: Instant,
    pub offset: Duration,
}

impl Clock {
    pub fn now(&self) -> Now {
        Now::new(self.start.elapsed() + self.offset, tenure_agent::wall_now())
    }

    pub fn instant_at(&self, mono: Duration) -> Instant {
        self.start + mono.saturating_sub(self.offset)
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

    // The agent's own HTTP client, as `tenure_agent::Agent` builds it.
    let http = TokioRuntime::current()
        .ok_or_else(|| anyhow::anyhow!("not inside a tokio runtime"))?
        .http_client(None)?;
    let agents = grant_all(&fleet, &base, clock, seeds, args.grant_concurrency, &http).await?;
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
