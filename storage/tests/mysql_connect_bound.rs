//! A MySQL connect is bounded by `StoreOptions::connect_timeout`: the
//! MySQL client library waits without limit for a server that accepted the
//! TCP connection and then never answers (a handshake whose packets a cut
//! network lost), so the store shuts such a connect's socket down at the
//! limit. Otherwise the connect, and every later one queued behind it,
//! would wait for hours and the manager would never reach its database
//! again after the network heals.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::TestDb;
use tenure_storage::{DieselStore, StoreOptions};
use tenure_testkit::trial;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Far beyond the connect timeout; reached only by a connect left hanging.
const GIVE_UP: Duration = Duration::from_secs(30);

fn a_mysql_server_that_never_answers_is_hung_up_on_at_the_connect_timeout() {
    // A real database for the connect after, and the skip rule of the others.
    let db = TestDb::mysql();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (ended, end) = mpsc::channel();
    // Accepts one connection, says nothing, and reports when the client
    // hangs up (end of file) or that it never did.
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let accepted = Instant::now();
        conn.set_read_timeout(Some(GIVE_UP)).expect("timeout");
        let read = conn.read(&mut [0u8; 64]);
        let _ = ended.send((read.map_err(|e| e.kind()), accepted.elapsed()));
        // Keep the listener open so no further connect is refused at once.
        std::thread::sleep(GIVE_UP);
    });
    let opts = StoreOptions {
        pool_size: 1,
        connect_timeout: CONNECT_TIMEOUT,
        ..StoreOptions::default()
    };
    let silent = DieselStore::connect(&format!("mysql://root@127.0.0.1:{port}/tenure"), opts);
    assert!(
        silent.is_err(),
        "a server that never answers was connected to"
    );
    let (read, after) = end
        .recv_timeout(GIVE_UP + Duration::from_secs(5))
        .expect("the silent server reports");
    assert_eq!(
        read,
        Ok(0),
        "the client should hang up at the connect timeout; after {after:?}: {read:?}"
    );
    assert!(after < GIVE_UP, "hung up only after {after:?}");

    // A connect after it, to a server that answers, is not held up.
    let started = Instant::now();
    let store = DieselStore::connect(&db.url, opts);
    assert!(
        store.is_ok(),
        "a later connect to a live server failed after {:?}: {:?}",
        started.elapsed(),
        store.err()
    );
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![trial(
        "a_mysql_server_that_never_answers_is_hung_up_on_at_the_connect_timeout",
        support::needs(support::Kind::Mysql),
        a_mysql_server_that_never_answers_is_hung_up_on_at_the_connect_timeout,
    )])
}
