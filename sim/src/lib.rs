//! Tenure's deterministic simulator.
//!
//! It runs the real `tenure_core::agent::Agent` state machines and the real
//! `tenure_storage::Manager` over the in-memory store through days of simulated
//! time, with a simulated clock per host, a simulated network and an
//! HAProxy-like load balancer, injects faults, and checks the invariants
//! I1-I10 of docs/protocol.md after every event.
//!
//! Everything is driven by one event heap (jump to the earliest event, never
//! tick) and one seeded generator; there are no threads and no clock reads, so
//! a seed replays byte for byte (I8).

pub mod clock;
pub mod expect;
pub mod plan;
pub mod process;
pub mod queue;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod store;
pub mod world;

pub use plan::{Bug, Plan};
pub use report::Report;
pub use scenario::{NAMES, Scale};

/// Runs one plan; `trace` receives one line per notable event.
pub fn run(plan: Plan, trace: Option<Box<dyn std::io::Write>>) -> Report {
    world::World::new(plan, trace).run()
}

/// Runs swarm seed `seed`.
pub fn run_swarm_seed(seed: u64) -> Report {
    run(scenario::swarm(seed), None)
}

/// The command that replays a run.
pub fn replay_command(plan: &Plan) -> String {
    if plan.scenario.starts_with("swarm:") {
        format!("tenure-sim run --scenario swarm --seed {}", plan.seed)
    } else {
        format!(
            "tenure-sim run --scenario {} --seed {} --components {} --days {}",
            plan.scenario,
            plan.seed,
            plan.components,
            plan.end_ms.div_ceil(plan::DAY)
        )
    }
}
