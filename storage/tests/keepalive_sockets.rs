//! The store's connections to PostgreSQL and MySQL carry TCP keepalive
//! timings from `StoreOptions::keepalive` (libpq's `keepalives_*` and
//! `tcp_user_timeout` for PostgreSQL, set on the sockets for MySQL): a
//! database host that vanishes without a FIN or RST then fails the
//! connection within seconds, not after the system's two hours.

#![allow(unsafe_code)]

mod support;

use std::time::Duration;
use support::{Kind, TestDb, pool};
use tenure_storage::{DieselStore, Store, StoreOptions};
use tenure_testkit::trial;

const KEEPALIVE: Duration = Duration::from_secs(9);

/// The peer port of socket `fd`, if it is a connected IPv4 or IPv6 socket.
fn peer_port(fd: i32) -> Option<u16> {
    // SAFETY: getpeername writes at most `len` bytes into `storage`, a
    // sockaddr_storage on this stack frame; a stale `fd` makes it fail.
    let (rc, storage) = unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let rc = libc::getpeername(fd, (&raw mut storage).cast(), &mut len);
        (rc, storage)
    };
    if rc != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        // SAFETY: the family says which sockaddr the storage holds.
        libc::AF_INET => {
            let v4: libc::sockaddr_in = unsafe { std::ptr::read((&raw const storage).cast()) };
            Some(u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const storage).cast()) };
            Some(u16::from_be(v6.sin6_port))
        }
        _ => None,
    }
}

/// (SO_KEEPALIVE, TCP_KEEPIDLE s, TCP_KEEPINTVL s, TCP_KEEPCNT,
/// TCP_USER_TIMEOUT ms) of socket `fd`.
fn timings(fd: i32) -> (i32, i32, i32, i32, i32) {
    let get = |level: i32, name: i32| {
        let mut value: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`.
        unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) };
        value
    };
    (
        get(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        get(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
    )
}

/// This process's sockets to `port`.
fn sockets_to(port: u16) -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .filter(|fd| peer_port(*fd) == Some(port))
        .collect()
}

fn the_store_s_connections_carry_keepalive_timings(kind: Kind) {
    let db = TestDb::of(kind);
    let port: u16 = db
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .expect("a port in the test database's URL");
    let opts = StoreOptions {
        pool_size: 1,
        keepalive: KEEPALIVE,
        ..StoreOptions::default()
    };
    let store = DieselStore::connect(&db.url, opts).expect("connect");
    store.migrate().expect("migrate");
    store
        .transaction(&mut |tx| tx.lock_pool(&pool("production", "vdp")))
        .expect("a call");
    let sockets = sockets_to(port);
    assert!(!sockets.is_empty(), "no connection to port {port}");
    for fd in sockets {
        assert_eq!(
            timings(fd),
            (1, 9, 3, 3, 18_000),
            "socket {fd} to port {port}: (keepalive on, idle s, interval s, count, user timeout ms)"
        );
    }
    drop(store);
}

fn postgres_connections_carry_keepalive_timings() {
    the_store_s_connections_carry_keepalive_timings(Kind::Postgres);
}

fn mysql_connections_carry_keepalive_timings() {
    the_store_s_connections_carry_keepalive_timings(Kind::Mysql);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "postgres_connections_carry_keepalive_timings",
            support::needs(Kind::Postgres),
            postgres_connections_carry_keepalive_timings,
        ),
        trial(
            "mysql_connections_carry_keepalive_timings",
            support::needs(Kind::Mysql),
            mysql_connections_carry_keepalive_timings,
        ),
    ])
}
