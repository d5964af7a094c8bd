//! M4 / I6: a process that acknowledged a grant (printed its id after the
//! commit) and is then SIGKILLed mid-stream has lost none of them.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Kind, TestDb};
use tenure_core::GrantId;
use tenure_storage::{DieselStore, Store, StoreOptions};

/// Acknowledged grants to see before the kill.
const BEFORE_KILL: usize = 150;

fn kill_mid_stream(kind: Kind) {
    let Some(db) = TestDb::of(kind) else { return };
    let store = DieselStore::connect(&db.url, StoreOptions::default()).expect("connect");
    store.migrate().expect("migrate");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenure-grant-loop"))
        .arg(&db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tenure-grant-loop");
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
            Ok(line) => acked.push(line),
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
    acked.extend(lines_rx.try_iter());
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

#[test]
fn kill_sqlite() {
    kill_mid_stream(Kind::Sqlite);
}

#[test]
fn kill_postgres() {
    kill_mid_stream(Kind::Postgres);
}

#[test]
fn kill_mysql() {
    kill_mid_stream(Kind::Mysql);
}
