//! The agent caps what a manager's answer gives (A8), on real processes.
//!
//! A manager never answers more than a year of grace (a license cannot say
//! more), so the answer the cap exists for comes from something between the
//! agent and the manager: here an nginx whose `sub_filter` puts a `9` in front
//! of every `grace_period_s` it passes, turning the license's 30 days into
//! about 2.9 years. `tenure-agent run -- sleep` runs under libfaketime
//! (support/faketime.rs) through that nginx against one manager on embedded
//! SQLite. The manager is stopped, then the agent host's wall clock steps 400
//! days forward: past the one year the agent may take, short of the grace the
//! answer claimed. The agent must ask every manager once, hear nothing, and
//! stop at once with exit code 70 (grace expired).
//!
//! Runs against `tenured` and `tenured-smol`; figures on `FIGURES` lines.
//! Needs `cargo build --workspace --bins`, nginx (with its sub module) and
//! libfaketime; a missing one fails the case under CI=true and is reported
//! as ignored otherwise.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::agents::Spec;
use support::faketime::{self, FakeClock};
use support::manager::Launch;
use support::*;
use tenure_testkit::trial;

const DAY_S: i64 = 86_400;
/// The license's grace: 30 days, which the rewrite makes 92,592,000 s.
const GRACE_S: u64 = 30 * 86_400;
/// What the agent may take at most: one year (`MAX_GRACE_PERIOD`).
const YEAR_S: i64 = 365 * DAY_S;
/// The wall-clock step: past a year, short of the rewritten grace.
const STEP_S: i64 = 400 * DAY_S;
/// `tenure-agent`'s exit code when grace ran out (docs/agent.md).
const EXIT_GRACE_EXPIRED: i32 = 70;
/// "At once": every manager URL once with its 2 s request timeout, plus
/// scheduling on a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(8);

/// nginx in the foreground, passing everything to one manager and rewriting
/// `grace_period_s` in the JSON it returns.
struct Rewriter {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Rewriter {
    fn start(bin: &std::path::Path, upstream: SocketAddr) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-nginx-caps-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\n\
             master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log notice;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   client_body_temp_path {d}/tmp-body;\n\
             \x20   proxy_temp_path {d}/tmp-proxy;\n\
             \x20   fastcgi_temp_path {d}/tmp-fastcgi;\n\
             \x20   uwsgi_temp_path {d}/tmp-uwsgi;\n\
             \x20   scgi_temp_path {d}/tmp-scgi;\n\
             \x20   server {{\n\
             \x20       listen {addr};\n\
             \x20       location / {{\n\
             \x20           proxy_pass http://{upstream};\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Accept-Encoding \"\";\n\
             \x20           sub_filter_types application/json;\n\
             \x20           sub_filter '\"grace_period_s\":' '\"grace_period_s\":9';\n\
             \x20       }}\n\
             \x20   }}\n\
             }}\n"
        );
        let main = dir.path().join("nginx.conf");
        std::fs::write(&main, conf).expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("nginx.err")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nginx: {e}"));
        let me = Self { child, dir, addr };
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(up, "nginx never listened: {}", me.log());
        me
    }

    fn log(&self) -> String {
        tail(&self.dir.path().join("error.log"), 4000)
            + &tail(&self.dir.path().join("nginx.err"), 4000)
    }
}

impl Drop for Rewriter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn an_inflated_grace_is_capped_at_one_year(case: &str, flavor: Flavor) {
    let (manager_bin, agent_bin, lib, nginx) = needed(
        case,
        flavor.binary().and_then(|m| {
            Ok((
                m,
                agent_binary()?,
                faketime::library()?,
                support::nginx::binary()?,
            ))
        }),
    );
    let _serial = serial();
    let started = Instant::now();
    let probe = faketime::check_monotonic_untouched(&FakeClock::new(&lib, STEP_S))
        .unwrap_or_else(|e| panic!("test set-up: {e}"));

    let setup = Setup::new(case, 1, GRACE_S, &[("vdp", 10)]);
    let mut manager = Manager::start(
        &setup,
        &Launch::new(&manager_bin, &setup.sqlite_url(), "m1", free_port()),
    );
    assert!(
        manager.wait_ping(200, Duration::from_secs(15)),
        "the manager never served: {}",
        manager.log()
    );
    let rewriter = Rewriter::start(&nginx, manager.addr);
    // What an agent is told through the rewriter.
    let body = serde_json::json!({"product": "vdp", "hostname": "probe", "port": 1, "cores": 1})
        .to_string();
    let told = support::http::request(rewriter.addr, "POST", "/v1/grants", None, Some(&body))
        .unwrap_or_else(|e| panic!("test set-up: a grant through nginx: {e}"));
    let claimed = told.json()["grace_period_s"].as_i64();
    assert!(
        told.status == 201 && claimed.is_some_and(|g| g > STEP_S),
        "test set-up: nginx did not inflate the grace past the step ({} s): {} {}\n{}",
        STEP_S,
        told.status,
        told.body,
        rewriter.log()
    );

    let clock = FakeClock::new(&lib, 0);
    let mut spec = Spec::new("capped-host", &format!("http://{}", rewriter.addr), "vdp");
    spec.env = clock.env();
    let mut fleet = Fleet::launch(&agent_bin, vec![spec]);
    assert!(
        fleet.wait_started(Duration::from_secs(20)),
        "the agent never started: {}\n{}",
        fleet.logs(&[], 1),
        rewriter.log()
    );
    std::thread::sleep(Duration::from_secs(2));

    manager.sigkill();
    std::thread::sleep(Duration::from_millis(500));
    let step = Instant::now();
    clock.set_offset(STEP_S);

    let agent = fleet.agent_mut("capped-host");
    let exit = agent.wait_exit(AT_ONCE);
    let after = step.elapsed();
    let command_gone = wait_until(Duration::from_secs(5), || !agent.command_alive());
    note(&format!(
        "FIGURES {case}: grace claimed {} s (license {GRACE_S} s, cap {YEAR_S} s), manager stopped, wall clock +{} d (probe lead {:.0} s): agent exit {exit:?} {} after the step, command gone {command_gone}; wall time {}",
        claimed.unwrap_or_default(),
        STEP_S / DAY_S,
        probe.wall_lead_s,
        secs(after),
        secs(started.elapsed())
    ));
    assert!(
        exit == Some(EXIT_GRACE_EXPIRED) && command_gone,
        "A8 broken: told {} s of grace, the agent ran on {} days past its last success with no manager answering (exit {exit:?} {} after the step, command gone {command_gone}); it may take one year at most.\nagent log:\n{}",
        claimed.unwrap_or_default(),
        STEP_S / DAY_S,
        secs(after),
        agent.tail(12)
    );
}

fn an_inflated_grace_is_capped_at_one_year_tenured() {
    an_inflated_grace_is_capped_at_one_year("caps-grace-tokio", Flavor::Tokio);
}

fn an_inflated_grace_is_capped_at_one_year_tenured_smol() {
    an_inflated_grace_is_capped_at_one_year("caps-grace-smol", Flavor::Smol);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "an_inflated_grace_is_capped_at_one_year_tenured",
            &[TENURED, AGENT, FAKETIME, NGINX],
            an_inflated_grace_is_capped_at_one_year_tenured,
        ),
        trial(
            "an_inflated_grace_is_capped_at_one_year_tenured_smol",
            &[TENURED_SMOL, AGENT, FAKETIME, NGINX],
            an_inflated_grace_is_capped_at_one_year_tenured_smol,
        ),
    ])
}
