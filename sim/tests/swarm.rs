//! CI's swarm: 200 seeds, each drawing a scenario and its fault parameters
//! (with protocol times shrunk so a seed stays cheap). Any failure prints the
//! command that replays it.

#[test]
fn swarm_200_seeds() {
    let mut failures = Vec::new();
    for seed in 0..200 {
        let plan = tenure_sim::scenario::swarm(seed);
        let replay = tenure_sim::replay_command(&plan);
        let report = tenure_sim::run(plan, None);
        if let Some(f) = report.failure() {
            failures.push(format!("seed {seed}: {f}\n  replay: {replay}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
