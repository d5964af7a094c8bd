//! A proxy's answers are not the manager's (A4, I9), on real processes.
//!
//! Four `tenure-agent run -- sleep` processes each reach one manager
//! (embedded SQLite, renewing every 1 s with a 3 s lease) through a proxy of
//! their own (support/proxy.rs). For 6 s every proxy answers every request
//! itself with an HTML page, as a corporate proxy, WAF or captive portal does:
//! 403, 401, 429 and 502 respectively. Then they forward again. Every licensed
//! command must run throughout, each agent must log the manager as
//! unreachable, and its renewals must resume. Control: a grant revoked through
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
const STATUSES: [u16; 4] = [403, 401, 429, 502];
/// Exit code of `tenure-agent` for a revoked grant (docs/agent.md).
const EXIT_REVOKED: i32 = 71;

fn agent_name(status: u16) -> String {
    format!("behind-html-{status}")
}

fn html_answers_never_stop_a_component(case: &str, flavor: Flavor) {
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
    let proxies: Vec<FaultProxy> = STATUSES
        .iter()
        .map(|_| FaultProxy::start(manager.addr))
        .collect();
    let specs = STATUSES
        .iter()
        .zip(&proxies)
        .map(|(s, p)| Spec::new(&agent_name(*s), &p.url, "vdp"))
        .collect();
    let mut fleet = Fleet::launch(&agent_bin, specs);
    assert!(
        fleet.wait_started(Duration::from_secs(20)),
        "not every agent started through its proxy: {}",
        fleet.logs(&[], 4)
    );
    std::thread::sleep(Duration::from_millis(1500));

    // The fault: every proxy answers for itself.
    let fault = Instant::now();
    for (s, p) in STATUSES.iter().zip(&proxies) {
        p.set(Answer::Html(*s));
    }
    let mut stopped: Vec<(u16, Duration)> = Vec::new();
    while fault.elapsed() < FAULT {
        for s in STATUSES {
            let a = fleet.agent_mut(&agent_name(s));
            let gone = a.exit_code().is_some() || !a.command_alive();
            if gone && !stopped.iter().any(|(t, _)| *t == s) {
                stopped.push((s, fault.elapsed()));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let last_before: Vec<i64> = STATUSES
        .iter()
        .map(|s| {
            manager
                .grant_of(&agent_name(*s))
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
    let mut resumed_after: Vec<Option<Duration>> = vec![None; STATUSES.len()];
    support::wait_until(Duration::from_secs(10), || {
        let now_ms = manager.status()["server_time_ms"].as_i64().unwrap_or(0);
        let lease_ms = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
        for (i, s) in STATUSES.iter().enumerate() {
            if resumed_after[i].is_some() {
                continue;
            }
            let last = manager
                .grant_of(&agent_name(*s))
                .and_then(|g| g["last_renewed_ms"].as_i64());
            if last.is_some_and(|l| l > last_before[i] && now_ms - l < lease_ms) {
                resumed_after[i] = Some(resume.elapsed());
            }
        }
        resumed_after.iter().all(Option::is_some)
    });

    let mut failures = Vec::new();
    let mut figures = Vec::new();
    for (i, s) in STATUSES.iter().enumerate() {
        let name = agent_name(*s);
        let a = fleet.agent_mut(&name);
        let exit = a.exit_code();
        let unreachable = a
            .lines_since(Some(fault))
            .iter()
            .any(|l| says_unreachable(l));
        figures.push(format!(
            "{s}: answered by the proxy {}x, command ran throughout {}, logged unreachable {unreachable}, renewed again after {}",
            answered[i],
            !stopped.iter().any(|(t, _)| t == s),
            resumed_after[i].map_or("never".into(), secs)
        ));
        if answered[i] == 0 {
            failures.push(format!(
                "test set-up: the proxy answered no request with HTML {s} in {} (the agent never met the fault)",
                secs(FAULT)
            ));
        }
        if let Some((_, at)) = stopped.iter().find(|(t, _)| t == s) {
            failures.push(format!(
                "A4/I9 broken: a proxy's HTML {s} (no Tenure JSON body) stopped the licensed command {} into the fault (agent exit code {exit:?}); it must count as unreachable. Log:\n{}",
                secs(*at),
                a.tail(8)
            ));
            continue;
        }
        if !unreachable {
            failures.push(format!(
                "A4 broken: during the HTML {s} the agent never logged the manager as unreachable. Log:\n{}",
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
    let control = STATUSES
        .iter()
        .map(|s| agent_name(*s))
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
        "FIGURES {case}: HTML answers for {} each, lease {}: {}; control: {control_figure}; wall time {}",
        secs(FAULT),
        secs(LEASE_TTL),
        figures.join("; "),
        secs(started.elapsed())
    ));
    assert!(failures.is_empty(), "{case}:\n{}", failures.join("\n"));
}

fn html_answers_never_stop_a_component_tenured() {
    html_answers_never_stop_a_component("proxy-html-tokio", Flavor::Tokio);
}

fn html_answers_never_stop_a_component_tenured_smol() {
    html_answers_never_stop_a_component("proxy-html-smol", Flavor::Smol);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "html_answers_never_stop_a_component_tenured",
            &[TENURED, AGENT],
            html_answers_never_stop_a_component_tenured,
        ),
        trial(
            "html_answers_never_stop_a_component_tenured_smol",
            &[TENURED_SMOL, AGENT],
            html_answers_never_stop_a_component_tenured_smol,
        ),
    ])
}
