//! A7 with real processes: the licensed command never outlives the
//! `tenure-agent` that runs it, against a real `tenured`.

mod support;
#[path = "support/wrapper.rs"]
mod wrapper;

use nix::sys::signal::{Signal, kill};
use std::time::Duration;
use support::*;
use tenure_testkit::{Need, trial};
use wrapper::{agent, sleeper, wait_exit};

fn manager(fx: &Fixture) -> Server {
    let bin = server_bin("tenured");
    Server::start(&bin, fx, "127.0.0.1:0", &fx.sqlite_url(), &FAST)
}

/// SIGKILL leaves the agent no time to stop anything: only the parent-death
/// signal ends the command.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn a_killed_agent_takes_its_command_with_it() {
    let fx = Fixture::new(30, 4);
    let server = manager(&fx);
    let pidfile = fx.path("command.pid");
    let mut agent = agent(&server.url, "k1", &sleeper(&pidfile));
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "the command never started"
    );
    let command = pid_in(&pidfile).expect("pid");
    assert!(alive(command));
    kill(wrapper::pid(&agent), Signal::SIGKILL).expect("SIGKILL");
    assert_eq!(
        wait_exit(&mut agent, Duration::from_secs(5)),
        Some(128 + 9),
        "the agent died of the SIGKILL"
    );
    assert!(
        wait_until(Duration::from_secs(2), || !alive(command)),
        "the command outlived its agent by 2 s (A7)"
    );
}

/// The command's main process exits, leaving a process in its group: that
/// one is gone before the grant is released, and so before the agent exits.
fn what_the_command_leaves_behind_ends_before_the_release() {
    let fx = Fixture::new(30, 4);
    let server = manager(&fx);
    let straggler = fx.path("straggler.pid");
    // The sleep runs in the background of a shell that exits 0 a second
    // later: a process in the command's group whose parent is gone.
    let script = format!(
        "sleep 120 & echo $! > {}; sleep 1; exit 0",
        straggler.display()
    );
    let mut agent = agent(&server.url, "s1", &script);
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&straggler).is_some()
            && server.held() == 1),
        "the command never ran under a grant"
    );
    let straggler = pid_in(&straggler).expect("the straggler's pid");
    // Watch for the release; the straggler must already be gone when it is seen.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let released = server.held() == 0;
            assert!(
                !released || !alive(straggler),
                "the grant was released while a process of the command's group ran (A7)"
            );
            released
        }),
        "the grant was never released"
    );
    let code = wait_exit(&mut agent, Duration::from_secs(10)).expect("the agent exits");
    assert_eq!(code, 0, "the command's own code");
    assert!(
        !alive(straggler),
        "a process of the command's group outlived the agent (A7)"
    );
    let (_, usage) = server.admin("GET", "/v1/usage");
    assert!(usage.contains("\"end_reason\":\"released\""), "{usage}");
}

fn main() -> std::process::ExitCode {
    const TENURED: &[Need] = &[Need::Built("tenured")];
    // Pushed to only where the parent-death signal exists.
    #[allow(unused_mut)]
    let mut trials = vec![trial(
        "what_the_command_leaves_behind_ends_before_the_release",
        TENURED,
        what_the_command_leaves_behind_ends_before_the_release,
    )];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    trials.push(trial(
        "a_killed_agent_takes_its_command_with_it",
        TENURED,
        a_killed_agent_takes_its_command_with_it,
    ));
    tenure_testkit::run(trials)
}
