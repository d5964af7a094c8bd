//! The server bounds every statement (`StoreOptions::statement_timeout`:
//! PostgreSQL `statement_timeout`, MariaDB `max_statement_time` and
//! InnoDB's lock wait): a transaction stuck behind a lock another session
//! holds fails with a storage error soon after the timeout, and the caller
//! answers 503, instead of holding a pool connection and a worker for as
//! long as the other session pleases.

mod support;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Kind, TestDb, pool};
use tenure_storage::{DieselStore, Store, StoreOptions};
use tenure_testkit::trial;

/// How long the other session holds its lock: far beyond the bound.
const HELD: Duration = Duration::from_secs(30);
/// The statement timeout, and the most a call may take with it (retries
/// included).
const TIMEOUT: Duration = Duration::from_secs(1);
const BOUND: Duration = Duration::from_secs(15);

fn blocked_call_fails_within_the_statement_timeout(kind: Kind) {
    let db = TestDb::of(kind);
    let opts = StoreOptions {
        pool_size: 2,
        statement_timeout: TIMEOUT,
        ..StoreOptions::default()
    };
    let store = DieselStore::connect(&db.url, opts).expect("connect");
    store.migrate().expect("migrate");
    let key = pool("production", "vdp");
    store
        .transaction(&mut |tx| tx.lock_pool(&key))
        .expect("the pool row is made while nothing blocks");

    // Another session locks the pools table and keeps the lock.
    let (locked, wait) = mpsc::channel();
    let url = db.url.clone();
    let holder = std::thread::spawn(move || {
        let lock = match kind {
            Kind::Postgres => "BEGIN; LOCK TABLE pools IN ACCESS EXCLUSIVE MODE",
            Kind::Mysql => {
                "SET SESSION innodb_lock_wait_timeout = 100; \
                            START TRANSACTION; SELECT * FROM pools FOR UPDATE"
            }
            Kind::Sqlite => unreachable!("a server backend"),
        };
        let run = |sql: &str| -> Result<(), String> {
            match kind {
                Kind::Postgres => {
                    let mut c = diesel::PgConnection::establish(&url).map_err(|e| e.to_string())?;
                    c.batch_execute(sql).map_err(|e| e.to_string())?;
                    locked.send(()).expect("signal");
                    std::thread::sleep(HELD);
                    c.batch_execute("ROLLBACK").map_err(|e| e.to_string())
                }
                _ => {
                    let mut c =
                        diesel::MysqlConnection::establish(&url).map_err(|e| e.to_string())?;
                    c.batch_execute(sql).map_err(|e| e.to_string())?;
                    locked.send(()).expect("signal");
                    std::thread::sleep(HELD);
                    c.batch_execute("ROLLBACK").map_err(|e| e.to_string())
                }
            }
        };
        run(lock).expect("hold the lock");
    });
    wait.recv_timeout(BOUND)
        .expect("the other session holds its lock");

    let started = Instant::now();
    let out = store.transaction(&mut |tx| tx.lock_pool(&key));
    let took = started.elapsed();
    assert!(
        out.is_err(),
        "a transaction behind a held lock succeeded after {took:?}"
    );
    assert!(
        took < BOUND,
        "a transaction behind a held lock waited {took:?}, with a statement timeout of {TIMEOUT:?}"
    );
    drop(holder);
}

fn postgres_blocked_call_fails_within_the_statement_timeout() {
    blocked_call_fails_within_the_statement_timeout(Kind::Postgres);
}

fn mysql_blocked_call_fails_within_the_statement_timeout() {
    blocked_call_fails_within_the_statement_timeout(Kind::Mysql);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "postgres_blocked_call_fails_within_the_statement_timeout",
            support::needs(Kind::Postgres),
            postgres_blocked_call_fails_within_the_statement_timeout,
        ),
        trial(
            "mysql_blocked_call_fails_within_the_statement_timeout",
            support::needs(Kind::Mysql),
            mysql_blocked_call_fails_within_the_statement_timeout,
        ),
    ])
}
