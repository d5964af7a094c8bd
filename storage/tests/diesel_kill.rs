//! M4 / I6: a process that acknowledged a grant (printed its id after the
//! commit) and is then SIGKILLed mid-stream has lost none of them.
//!
//! The granting process is this test binary run again with
//! `--ignored grant_loop_child` and the database URL in [`CHILD_URL`], so no
//! helper binary ships with the storage crate.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Kind, TestDb};
use tenure_core::license::{License, Limits};
use tenure_core::manager::{ManagerConfig, grant};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{DieselStore, Store, StoreOptions};
use tenure_testkit::trial;

/// The database URL the child grants against; set only for the child.
const CHILD_URL: &str = "TENURE_GRANT_LOOP_URL";
/// The prefix of an acknowledgement line, so the test harness's own lines
/// on the child's stdout are told apart.
const ACK: &str = "acknowledged ";

/// Acknowledged grants to see before the kill.
const BEFORE_KILL: usize = 150;

/// The grant id a line of the child acknowledges. The first one shares its
/// line with libtest's own `test grant_loop_child ... `, which a
/// one-thread run prints, without a newline, before the test starts.
fn acknowledged(line: &str) -> Option<&str> {
    line.split_once(ACK).map(|(_, id)| id.trim())
}

fn kill_mid_stream(kind: Kind) {
    let db = TestDb::of(kind);
    let store = DieselStore::connect(&db.url, StoreOptions::default()).expect("connect");
    store.migrate().expect("migrate");

    let started = Instant::now();
    let me = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(me)
        .args([
            "--ignored",
            "--exact",
            "grant_loop_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the granting child");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acked: Vec<String> = Vec::new();
    while acked.len() < BEFORE_KILL {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(id) = acknowledged(&line) {
                    acked.push(id.to_owned());
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "{kind:?}: child stopped acknowledging after {} ids: {e}",
                    acked.len()
                );
            }
        }
    }
    // SIGKILL (Child::kill on Unix) while it is granting.
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap child");
    reader.join().expect("reader thread");
    // Whatever it printed before dying was acknowledged too.
    acked.extend(
        lines_rx
            .try_iter()
            .filter_map(|l| acknowledged(&l).map(str::to_owned)),
    );
    assert!(
        !status.success(),
        "the child was killed, not finished: {status:?}"
    );

    let ids: Vec<GrantId> = acked
        .iter()
        .map(|s| GrantId::parse(s).expect("a grant id per line"))
        .collect();
    let (missing, held) = store
        .transaction(&mut |tx| {
            let mut missing = Vec::new();
            for id in &ids {
                if tx.grant(*id)?.is_none() {
                    missing.push(*id);
                }
            }
            Ok((missing, tx.held_grants()?.len()))
        })
        .expect("read back");
    assert!(
        missing.is_empty(),
        "{kind:?}: acknowledged but lost: {missing:?}"
    );
    // At most the one in flight committed without being acknowledged.
    assert!(
        held >= ids.len() && held <= ids.len() + 1,
        "{held} held, {} acked",
        ids.len()
    );
    println!(
        "{kind:?}: {} acknowledged grants, {held} in storage after SIGKILL, in {:?}",
        ids.len(),
        started.elapsed()
    );
}

fn kill_sqlite() {
    kill_mid_stream(Kind::Sqlite);
}

fn kill_postgres() {
    kill_mid_stream(Kind::Postgres);
}

fn kill_mysql() {
    kill_mid_stream(Kind::Mysql);
}

/// The granting child: grants fresh instances in a loop and prints each grant
/// id only after its transaction committed, until it is killed.
fn grant_loop_child() {
    let url = std::env::var(CHILD_URL).expect("run by kill_mid_stream with the database URL");
    if let Err(e) = run(&url) {
        panic!("grant loop: {e}");
    }
}

fn name(s: &str) -> Result<Name, String> {
    Name::parse("name", s).map_err(|e| e.to_string())
}

fn unlimited_license() -> Result<License, String> {
    let mut products = BTreeMap::new();
    products.insert(
        name("kill")?,
        Limits {
            max_servers: None,
            max_cores_per_server: None,
            max_total_cores: None,
            extra: BTreeMap::new(),
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(name("prod")?, products);
    Ok(License {
        license_id: "lic-kill-test".into(),
        licensee: "Test Co".into(),
        issued_at: UnixMillis(0),
        not_before: UnixMillis(0),
        not_after: UnixMillis(253_402_300_799_000),
        max_managers: 1,
        grace_period_s: 3_600,
        limits,
        extra: BTreeMap::new(),
    })
}

fn run(url: &str) -> Result<(), String> {
    let store = DieselStore::connect(url, StoreOptions::default()).map_err(|e| e.to_string())?;
    let license = unlimited_license()?;
    let cfg = ManagerConfig::default();
    let pid = std::process::id();
    let mut stdout = std::io::stdout().lock();
    for n in 0u64.. {
        let req = GrantRequest {
            instance: Instance {
                environment: name("prod")?,
                product: name("kill")?,
                hostname: Hostname::parse(&format!("host{n}")).map_err(|e| e.to_string())?,
                port: 1,
            },
            facts: HostFacts {
                cores: 1,
                ip: None,
                version: None,
            },
            client_time: None,
        };
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&pid.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let id = GrantId::from_random(bytes);
        let outcome = store
            .transaction(&mut |tx| {
                let now = tx.now()?;
                tx.lock_pool(&req.instance.pool())?;
                let view = tx.pool_view(&req.instance, now, 16)?;
                let d = grant(&cfg, &license, &view, &req, now, id);
                for m in &d.mutations {
                    tx.apply(m)?;
                }
                Ok(d.outcome)
            })
            .map_err(|e| e.to_string())?;
        match outcome {
            // Committed: only now may it be acknowledged.
            Ok(resp) => writeln!(stdout, "{ACK}{}", resp.grant_id)
                .and_then(|()| stdout.flush())
                .map_err(|e| e.to_string())?,
            Err(denial) => return Err(format!("denied: {denial:?}")),
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial("kill_sqlite", &[], kill_sqlite),
        trial(
            "kill_postgres",
            support::needs(Kind::Postgres),
            kill_postgres,
        ),
        trial("kill_mysql", support::needs(Kind::Mysql), kill_mysql),
        // The child process of the SIGKILL tests above, which run it.
        trial("grant_loop_child", &[], grant_loop_child).ignored(),
    ])
}
