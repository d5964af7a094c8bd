//! Phase 1: every agent granted, a few at a time.

use crate::Clock;
use crate::wire::{Outcome, send};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tenure_agent::HttpClient;
use tenure_core::agent::{Agent, AgentConfig, TransportError};
use tenure_core::wire::RawGrantRequest;
use tokio::sync::mpsc;

/// Vigna's SplitMix64: the agents' seeds, reproducible from `--seed`.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What every agent's configuration is made from.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub environment: String,
    pub product: String,
    pub prefix: String,
    pub request_timeout: Duration,
    pub max_sleep: Duration,
}

impl Fleet {
    /// Agent `i`, configured as `tenure_agent::Agent` configures one.
    pub fn config(&self, i: usize) -> anyhow::Result<AgentConfig> {
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
pub async fn grant_all(
    fleet: &Fleet,
    base: &str,
    clock: Clock,
    seeds: Arc<Vec<u64>>,
    concurrency: usize,
    http: &Arc<dyn HttpClient>,
) -> anyhow::Result<Vec<Agent>> {
    let n = seeds.len();
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
                    let (result, outcome, _) = tokio::time::timeout(
                        fleet.request_timeout,
                        send(&*http, &base, &t.request),
                    )
                    .await
                    .unwrap_or((
                        Err(TransportError::Timeout),
                        Outcome::WireTimeout,
                        None,
                    ));
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
