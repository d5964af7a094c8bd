//! The agent host's wall clock steps 3 days forward, its monotonic clocks
//! untouched (T2, I9), on real processes.
//!
//! `tenure-agent run -- sleep` runs under libfaketime (support/faketime.rs:
//! the offset is read from a file at every clock call, so the test steps it
//! while the agent runs; CLOCK_MONOTONIC and CLOCK_BOOTTIME stay real, which a
//! probe checks first). One manager on embedded SQLite, renewing every 1 s
//! with a 3 s lease, not under libfaketime.
//!
//! - grace 5 days, step 3 days, manager reachable: the wall term says the
//!   lease ran out; the agent renews at once and runs on;
//! - grace 1 day, step 3 days, manager reachable: the wall term says grace is
//!   over; the agent renews at once and runs on;
//! - control: grace 1 day, step 3 days, manager stopped: the renewal at once
//!   fails, the agent stops at once with exit code 70 (grace expired).
//!
//! Every step must be reported in the agent's log. Each case runs against
//! `tenured` and `tenured-smol`; figures on `FIGURES` lines. Needs
//! `cargo build --workspace --bins` and libfaketime; a missing one fails the
//! case under CI=true and is reported as ignored otherwise.

mod support;

use std::time::{Duration, Instant};
use support::agents::Spec;
use support::faketime::{self, FakeClock};
use support::manager::Launch;
use support::wording::clock_step_lines;
use support::*;
use tenure_testkit::trial;

const DAY_S: i64 = 86_400;
const STEP_S: i64 = 3 * DAY_S;
/// How long a running agent is watched after the step.
const WATCH: Duration = Duration::from_secs(6);
/// `tenure-agent`'s exit code when grace ran out (docs/agent.md).
const EXIT_GRACE_EXPIRED: i32 = 70;
/// "At once": every manager URL once with its 2 s request timeout, plus
/// scheduling on a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(8);

/// The manager during the step.
#[derive(Debug, Clone, Copy)]
enum Reach {
    Reachable,
    Stopped,
}

fn wall_clock_steps_forward(case: &str, flavor: Flavor, grace_days: u64, manager_state: Reach) {
    let (manager_bin, agent_bin, lib) = needed(
        case,
        flavor
            .binary()
            .and_then(|m| Ok((m, agent_binary()?, faketime::library()?))),
    );
    let started = Instant::now();
    // The environment the agent gets leaves its monotonic clocks alone.
    let probe = faketime::check_monotonic_untouched(&FakeClock::new(&lib, STEP_S))
        .unwrap_or_else(|e| panic!("test set-up: {e}"));

    let setup = Setup::new(case, 1, grace_days * 86_400, &[("vdp", 10)]);
    let mut manager = Manager::start(
        &setup,
        &Launch::new(&manager_bin, &setup.sqlite_url(), "m1", free_port()),
    );
    assert!(
        manager.wait_ping(200, Duration::from_secs(15)),
        "the manager never served: {}",
        manager.log()
    );
    let clock = FakeClock::new(&lib, 0);
    let mut spec = Spec::new("stepped-host", &manager.url, "vdp");
    spec.env = clock.env();
    let mut fleet = Fleet::launch(&agent_bin, vec![spec]);
    assert!(
        fleet.wait_started(Duration::from_secs(20)),
        "the agent under libfaketime never started: {}",
        fleet.logs(&[], 1)
    );
    std::thread::sleep(Duration::from_secs(2));

    if let Reach::Stopped = manager_state {
        manager.sigkill();
        std::thread::sleep(Duration::from_millis(500));
    }
    let step = Instant::now();
    clock.set_offset(STEP_S);

    let mut failures = Vec::new();
    let agent = fleet.agent_mut("stepped-host");
    let figure = match manager_state {
        Reach::Reachable => {
            let mut stopped = None;
            while step.elapsed() < WATCH {
                if stopped.is_none() && (agent.exit_code().is_some() || !agent.command_alive()) {
                    stopped = Some(step.elapsed());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let renewed = agent.successes().into_iter().find(|t| *t >= step);
            // Not a failure by itself (the contract asks for the renewal, not
            // for silence), but a notice operators would alert on in vain.
            let grace_notice = agent
                .lines_since(Some(step))
                .iter()
                .any(|l| l.contains("running on grace"));
            let skew_ms = manager
                .grant_of("stepped-host")
                .and_then(|g| g["client_skew_ms"].as_i64());
            if let Some(at) = stopped {
                failures.push(format!(
                    "T2/I9 broken: a wall-clock step of +{} days stopped a component that can reach its manager ({} after the step, exit code {:?}; grace {grace_days} days)",
                    STEP_S / DAY_S,
                    secs(at),
                    agent.exit_code()
                ));
            } else if renewed.is_none() {
                failures.push(format!(
                    "T2 broken: no successful renewal within {} after the wall-clock step (the component must renew at once)",
                    secs(WATCH)
                ));
            } else if skew_ms.is_none_or(|s| (s - STEP_S * 1000).abs() >= 60_000) {
                failures.push(format!(
                    "test set-up: the manager saw client skew {skew_ms:?} ms after the step, not about +{STEP_S} s: libfaketime did not step the agent's wall clock"
                ));
            }
            format!(
                "grace {grace_days} d, manager reachable: command ran throughout {}, first renewal {} after the step, grace announced {grace_notice}, client skew seen by the manager {} ms",
                stopped.is_none(),
                renewed.map_or("never".into(), |t| secs(t - step)),
                skew_ms.map_or("none".into(), |s| s.to_string())
            )
        }
        Reach::Stopped => {
            let exit = agent.wait_exit(AT_ONCE);
            let after = step.elapsed();
            let command_gone =
                support::wait_until(Duration::from_secs(5), || !agent.command_alive());
            if exit != Some(EXIT_GRACE_EXPIRED) || !command_gone {
                failures.push(format!(
                    "T2 broken: with no manager reachable and grace over by the wall clock ({grace_days} d grace, +{} d step), the agent must stop at once with exit code {EXIT_GRACE_EXPIRED}: exit {exit:?} after {}, command gone {command_gone}",
                    STEP_S / DAY_S,
                    secs(after)
                ));
            }
            format!(
                "grace {grace_days} d, manager stopped: agent exit {exit:?} {} after the step",
                secs(after)
            )
        }
    };
    let step_lines = clock_step_lines(&agent.lines_since(Some(step)).join("\n"));
    if step_lines.is_empty() {
        failures.push(format!(
            "T2 broken: the wall-clock step of +{} days was not reported in the agent's log",
            STEP_S / DAY_S
        ));
    }
    note(&format!(
        "FIGURES {case}: wall clock +{} d (monotonic untouched, probe lead {:.0} s): {figure}; step reported: {}; wall time {}",
        STEP_S / DAY_S,
        probe.wall_lead_s,
        step_lines.first().map_or("no", String::as_str),
        secs(started.elapsed())
    ));
    assert!(
        failures.is_empty(),
        "{case}:\n{}\nagent log:\n{}",
        failures.join("\n"),
        agent.tail(12)
    );
}

fn step_within_grace_manager_reachable_tenured() {
    wall_clock_steps_forward("step-5d-grace-tokio", Flavor::Tokio, 5, Reach::Reachable);
}

fn step_within_grace_manager_reachable_tenured_smol() {
    wall_clock_steps_forward("step-5d-grace-smol", Flavor::Smol, 5, Reach::Reachable);
}

fn step_past_grace_manager_reachable_tenured() {
    wall_clock_steps_forward("step-1d-grace-tokio", Flavor::Tokio, 1, Reach::Reachable);
}

fn step_past_grace_manager_reachable_tenured_smol() {
    wall_clock_steps_forward("step-1d-grace-smol", Flavor::Smol, 1, Reach::Reachable);
}

fn step_past_grace_manager_stopped_tenured() {
    wall_clock_steps_forward("step-1d-stopped-tokio", Flavor::Tokio, 1, Reach::Stopped);
}

fn step_past_grace_manager_stopped_tenured_smol() {
    wall_clock_steps_forward("step-1d-stopped-smol", Flavor::Smol, 1, Reach::Stopped);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "step_within_grace_manager_reachable_tenured",
            &[TENURED, AGENT, FAKETIME],
            step_within_grace_manager_reachable_tenured,
        ),
        trial(
            "step_within_grace_manager_reachable_tenured_smol",
            &[TENURED_SMOL, AGENT, FAKETIME],
            step_within_grace_manager_reachable_tenured_smol,
        ),
        trial(
            "step_past_grace_manager_reachable_tenured",
            &[TENURED, AGENT, FAKETIME],
            step_past_grace_manager_reachable_tenured,
        ),
        trial(
            "step_past_grace_manager_reachable_tenured_smol",
            &[TENURED_SMOL, AGENT, FAKETIME],
            step_past_grace_manager_reachable_tenured_smol,
        ),
        trial(
            "step_past_grace_manager_stopped_tenured",
            &[TENURED, AGENT, FAKETIME],
            step_past_grace_manager_stopped_tenured,
        ),
        trial(
            "step_past_grace_manager_stopped_tenured_smol",
            &[TENURED_SMOL, AGENT, FAKETIME],
            step_past_grace_manager_stopped_tenured_smol,
        ),
    ])
}
