//! Answers that decide nothing never stop a component (A4, I9), on real
//! processes: a proxy's pages, and a manager's fault of its own.
//!
//! Five `tenure-agent run -- sleep` processes each reach one manager
//! (embedded SQLite, renewing every 1 s with a 3 s lease) through a proxy of
//! their own (support/proxy.rs). For 6 s every proxy answers every request
//! itself: four with an HTML page, as a corporate proxy, WAF or captive
//! portal does (403, 401, 429 and 502), one as a manager with a fault of its
//! own does (500 with the JSON body `internal`). Then they forward again.
//! Every licensed command must run throughout, each agent must log the
//! manager as unreachable, and its renewals must resume. Control: a grant revoked through
//! the admin API still stops its agent, with the manager's JSON 403 `revoked`
//! travelling through the same proxy (exit code 71).
//!
//! Runs against `tenured` and `tenured-smol`. Needs
//! `cargo build --workspace --bins` first; a missing binary
//! fails under CI=true and is reported as ignored otherwise. Figures on
//! `FIGURES` lines.

mod support;

use std::time::{Duration, Instant};
use support::agents::Spec;
use support::manager::{LEASE_TTL, Launch};
use support::proxy::{Answer, FaultProxy};
use support::wording::says_unreachable;
use support::*;
use tenure_testkit::trial;

/// Longer than every fault here, so that only a wrong verdict can stop a command.
const GRACE_S: u64 = 60;
/// How long each proxy answers with HTML: two leases, so every agent is in grace.
const FAULT: Duration = Duration::from_secs(6);
/// What each agent's proxy answers during the fault.
const FAULTS: [Answer; 5] = [
    Answer::Html(403),
    Answer::Html(401),
    Answer::Html(429),
    Answer::Html(502),
    Answer::ManagerFault,
];
/// Exit code of `tenure-agent` for a revoked grant (docs/agent.md).
const EXIT_REVOKED: i32 = 71;

fn agent_name(answer: Answer) -> String {
    match answer {
        Answer::Html(status) => format!("behind-html-{status}"),
        Answer::ManagerFault => "behind-manager-fault".to_owned(),
        Answer::Forward => "behind-forward".to_owned(),
    }
}

/// The answer as the figures and failures name it.
fn label(answer: Answer) -> String {
    match answer {
        Answer::Html(status) => format!("a proxy's HTML {status} (no Tenure JSON body)"),
        Answer::ManagerFault => "the manager's JSON 500 `internal`".to_owned(),
        Answer::Forward => "the manager's own answer".to_owned(),
    }
}

fn answers_deciding_nothing_never_stop_a_component(case: &str, flavor: Flavor) {
    let (manager_bin, agent_bin) =
        needed(case, flavor.binary().and_then(|m| Ok((m, agent_binary()?))));
    let started = Instant::now();
    let setup = Setup::new(case, 1, GRACE_S, &[("vdp", 10)]);
    let manager = Manager::start(
        &setup,
        &Launch::new(&manager_bin, &setup.sqlite_url(), "m1", free_port()),
    );
    assert!(
        manager.wait_ping(200, Duration::from_secs(15)),
        "the manager never served: {}",
        manager.log()
    );
    let proxies: Vec<FaultProxy> = FAULTS
        .iter()
        .map(|_| FaultProxy::start(manager.addr))
        .collect();
    let specs = FAULTS
        .iter()
        .zip(&proxies)
        .map(|(f, p)| Spec::new(&agent_name(*f), &p.url, "vdp"))
        .collect();
    let mut fleet = Fleet::launch(&agent_bin, specs);
    assert!(
        fleet.wait_started(Duration::from_secs(20)),
        "not every agent started through its proxy: {}",
        fleet.logs(&[], FAULTS.len())
    );
    std::thread::sleep(Duration::from_millis(1500));

    // The fault: every proxy answers for itself.
    let fault = Instant::now();
    for (f, p) in FAULTS.iter().zip(&proxies) {
        p.set(*f);
    }
    let mut stopped: Vec<(Answer, Duration)> = Vec::new();
    while fault.elapsed() < FAULT {
        for f in FAULTS {
            let a = fleet.agent_mut(&agent_name(f));
            let gone = a.exit_code().is_some() || !a.command_alive();
            if gone && !stopped.iter().any(|(t, _)| *t == f) {
                stopped.push((f, fault.elapsed()));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let last_before: Vec<i64> = FAULTS
        .iter()
        .map(|f| {
            manager
                .grant_of(&agent_name(*f))
                .and_then(|g| g["last_renewed_ms"].as_i64())
                .unwrap_or(i64::MAX)
        })
        .collect();
    let answered: Vec<u64> = proxies.iter().map(FaultProxy::answered).collect();
    let resume = Instant::now();
    for p in &proxies {
        p.set(Answer::Forward);
    }

    // Renewals resume: each grant's last renewal moves past what it was
    // during the fault and is within a lease of the manager's clock.
    let mut resumed_after: Vec<Option<Duration>> = vec![None; FAULTS.len()];
    support::wait_until(Duration::from_secs(10), || {
        let now_ms = manager.status()["server_time_ms"].as_i64().unwrap_or(0);
        let lease_ms = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
        for (i, f) in FAULTS.iter().enumerate() {
            if resumed_after[i].is_some() {
                continue;
            }
            let last = manager
                .grant_of(&agent_name(*f))
                .and_then(|g| g["last_renewed_ms"].as_i64());
            if last.is_some_and(|l| l > last_before[i] && now_ms - l < lease_ms) {
                resumed_after[i] = Some(resume.elapsed());
            }
        }
        resumed_after.iter().all(Option::is_some)
    });

    let mut failures = Vec::new();
    let mut figures = Vec::new();
    for (i, f) in FAULTS.iter().enumerate() {
        let name = agent_name(*f);
        let a = fleet.agent_mut(&name);
        let exit = a.exit_code();
        let unreachable = a
            .lines_since(Some(fault))
            .iter()
            .any(|l| says_unreachable(l));
        figures.push(format!(
            "{name}: answered by the proxy {}x, command ran throughout {}, logged unreachable {unreachable}, renewed again after {}",
            answered[i],
            !stopped.iter().any(|(t, _)| t == f),
            resumed_after[i].map_or("never".into(), secs)
        ));
        if answered[i] == 0 {
            failures.push(format!(
                "test set-up: the proxy answered no request with {} in {} (the agent never met the fault)",
                label(*f),
                secs(FAULT)
            ));
        }
        if let Some((_, at)) = stopped.iter().find(|(t, _)| t == f) {
            failures.push(format!(
                "A4/I9 broken: {} stopped the licensed command {} into the fault (agent exit code {exit:?}); it must count as unreachable. Log:\n{}",
                label(*f),
                secs(*at),
                a.tail(8)
            ));
            continue;
        }
        if !unreachable {
            failures.push(format!(
                "A4 broken: during {} the agent never logged the manager as unreachable. Log:\n{}",
                label(*f),
                a.tail(8)
            ));
        }
        if resumed_after[i].is_none() {
            failures.push(format!(
                "A2/A4 broken: after the proxy forwarded again, the grant of {name} was not renewed within 10 s (manager's grants listing)"
            ));
        }
    }

    // Control: the manager's own 403 `revoked`, through the same proxy, stops it.
    let control = FAULTS
        .iter()
        .map(|f| agent_name(*f))
        .find(|n| fleet.agent_mut(n).exit_code().is_none());
    let mut control_figure = "no agent left to revoke".to_owned();
    if let Some(name) = control {
        let grant_id = manager
            .grant_of(&name)
            .and_then(|g| g["grant_id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no grant for {name}: {:?}", manager.grants()));
        let revoked = Instant::now();
        let r = manager.admin("DELETE", &format!("/v1/admin/grants/{grant_id}"), None);
        assert_eq!(r.status, 204, "revoke {grant_id}: {}", r.body);
        let a = fleet.agent_mut(&name);
        let exit = a.wait_exit(Duration::from_secs(10));
        let command_gone = support::wait_until(Duration::from_secs(5), || !a.command_alive());
        control_figure = format!(
            "revoked {name}: agent exit {exit:?} after {}",
            secs(revoked.elapsed())
        );
        if exit != Some(EXIT_REVOKED) || !command_gone {
            failures.push(format!(
                "A4 broken: a Tenure JSON 403 `revoked` through the proxy did not stop {name} (exit {exit:?}, want {EXIT_REVOKED}; command gone {command_gone}). Log:\n{}",
                a.tail(8)
            ));
        }
    } else {
        failures.push("control not run: every agent had already stopped".into());
    }

    note(&format!(
        "FIGURES {case}: answers that decide nothing for {} each, lease {}: {}; control: {control_figure}; wall time {}",
        secs(FAULT),
        secs(LEASE_TTL),
        figures.join("; "),
        secs(started.elapsed())
    ));
    assert!(failures.is_empty(), "{case}:\n{}", failures.join("\n"));
}

fn answers_deciding_nothing_never_stop_a_component_tenured() {
    answers_deciding_nothing_never_stop_a_component("proxy-answers-tokio", Flavor::Tokio);
}

fn answers_deciding_nothing_never_stop_a_component_tenured_smol() {
    answers_deciding_nothing_never_stop_a_component("proxy-answers-smol", Flavor::Smol);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "answers_deciding_nothing_never_stop_a_component_tenured",
            &[TENURED, AGENT],
            answers_deciding_nothing_never_stop_a_component_tenured,
        ),
        trial(
            "answers_deciding_nothing_never_stop_a_component_tenured_smol",
            &[TENURED_SMOL, AGENT],
            answers_deciding_nothing_never_stop_a_component_tenured_smol,
        ),
    ])
}
