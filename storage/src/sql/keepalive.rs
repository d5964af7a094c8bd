//! TCP keepalive timings on MySQL connections. libpq takes them in its
//! connection string (`keepalives_idle`, ...); the MySQL client library turns
//! SO_KEEPALIVE on with the system's timings (two hours before the first
//! probe on Linux) and diesel offers no way to change them. So the socket
//! the library opened is found and set here: while a connection is being
//! made (one at a time in this process), the sockets whose peer port is the
//! database's that were not there before are the new connection's.
//!
//! Setting a socket option is harmless to any socket; that is why a wrong
//! guess (another part of the process opening a socket to the same port at
//! that moment) costs nothing but that socket's keepalive timings. Shutting
//! a socket down is not harmless: it is done only to the new sockets of a
//! connect that overran its limit, and only while their peer is still the
//! database's port.

use super::connection::MysqlSocket;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// One connection being made at a time, so new sockets are its own.
static CONNECTING: Mutex<()> = Mutex::new(());

/// Runs `connect` (one at a time in this process), then gives every socket
/// it opened to the server keepalive probes after `socket.keepalive`
/// without traffic, every third of that, three of them, and a
/// TCP_USER_TIMEOUT of twice that for data left unacknowledged.
///
/// A connect that has not returned within `socket.connect_limit` has its
/// new sockets shut down, which ends the client library's wait with an
/// error. Without that, a handshake whose last packet the network lost
/// (the server then holds an authenticated session with its default idle
/// limit of hours) blocks this connect for hours, and every later one
/// behind the lock: the pool could never reconnect after a cut.
pub(crate) fn connect_bounded<T>(socket: MysqlSocket, connect: impl FnOnce() -> T) -> T {
    let MysqlSocket {
        port,
        keepalive,
        connect_limit,
    } = socket;
    if keepalive.is_zero() && connect_limit.is_zero() {
        return connect();
    }
    let _one = CONNECTING.lock().unwrap_or_else(|e| e.into_inner());
    let before = sockets_to(port);
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = (!connect_limit.is_zero())
        .then(|| {
            let before = before.clone();
            std::thread::Builder::new()
                .name("tenure-db-connect".into())
                .spawn(move || {
                    if wait.recv_timeout(connect_limit) == Err(RecvTimeoutError::Timeout) {
                        for fd in sockets_to(port).difference(&before) {
                            tracing::warn!(
                                fd,
                                limit_ms = connect_limit.as_millis() as u64,
                                "a database connect did not finish in time; closing its socket"
                            );
                            shut_down(*fd, port);
                        }
                    }
                })
                .ok()
        })
        .flatten();
    let out = connect();
    drop(done);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    if !keepalive.is_zero() {
        for fd in sockets_to(port).difference(&before) {
            if let Err(e) = set_keepalive(*fd, keepalive) {
                tracing::debug!(fd, error = %e, "cannot set keepalive on a database socket");
            }
        }
    }
    out
}

/// Shuts socket `fd` down both ways if its peer is still on `port`: the
/// descriptor may have been closed and reused since it was listed.
#[allow(unsafe_code)]
fn shut_down(fd: i32, port: u16) {
    if peer_port(fd) == Some(port) {
        // SAFETY: shutdown takes a plain descriptor and touches no memory;
        // a stale one makes it fail with EBADF or ENOTSOCK.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

/// The descriptors of this process's TCP sockets whose peer port is `port`.
fn sockets_to(port: u16) -> BTreeSet<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return BTreeSet::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .filter(|fd| peer_port(*fd) == Some(port))
        .collect()
}

/// The peer port of socket `fd`, if it is a connected IPv4 or IPv6 socket.
#[allow(unsafe_code)]
fn peer_port(fd: i32) -> Option<u16> {
    // SAFETY: getpeername writes at most `len` bytes into `storage`, a
    // sockaddr_storage on this stack frame, and `len` says its size. `fd`
    // is a plain integer: a descriptor closed or reused meanwhile makes the
    // call fail (EBADF, ENOTSOCK) or name another socket, never touch memory.
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
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4: libc::sockaddr_in = unsafe { std::ptr::read((&raw const storage).cast()) };
            Some(u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const storage).cast()) };
            Some(u16::from_be(v6.sin6_port))
        }
        _ => None,
    }
}

#[allow(unsafe_code)]
fn set(fd: i32, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<i32>()` bytes from `value`, an
    // i32 on this stack frame. A stale `fd` makes the call fail or set an
    // option on another socket, which is harmless (module comment).
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set_keepalive(fd: i32, idle: Duration) -> std::io::Result<()> {
    let secs = |d: Duration| i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX);
    let ms = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(idle))?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(idle / 3))?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms(idle * 2))
}

/// The keepalive timings a socket has now: (on, idle s, interval s, count,
/// user timeout ms).
#[cfg(test)]
#[allow(unsafe_code)]
pub(crate) fn timings(fd: i32) -> (i32, i32, i32, i32, i32) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_sockets_a_connect_opens_get_the_timings() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let old = std::net::TcpStream::connect(("127.0.0.1", port)).expect("old");
        let socket = MysqlSocket {
            port,
            keepalive: Duration::from_secs(15),
            connect_limit: Duration::from_secs(30),
        };
        let new = connect_bounded(socket, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).expect("new")
        });
        assert_eq!(timings(new.as_raw_fd()), (1, 15, 5, 3, 30_000));
        assert_eq!(
            timings(old.as_raw_fd()).0,
            0,
            "a socket from before is left alone"
        );
    }

    /// A server that accepts and then never answers: the connect's wait
    /// ends at the limit instead of never.
    #[test]
    fn a_connect_that_hangs_is_ended_at_the_limit() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let socket = MysqlSocket {
            port,
            keepalive: Duration::from_secs(15),
            connect_limit: Duration::from_millis(300),
        };
        let read = connect_bounded(socket, || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            // Bounds the test if the watchdog fails: a read that is still
            // waiting after this is a hang.
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            s.read(&mut [0u8; 16])
        });
        // The watchdog's shutdown reads as end of file; the test's own
        // bound would read as WouldBlock.
        assert!(
            matches!(read, Ok(0)),
            "the hung read ends with end of file, got {read:?}"
        );
        drop(listener);
    }
}
