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
//! that moment) costs nothing but that socket's keepalive timings.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

/// One connection being made at a time, so new sockets are its own.
static CONNECTING: Mutex<()> = Mutex::new(());

/// Runs `connect`, then gives every socket it opened to `port` keepalive
/// probes after `idle` without traffic, every `idle / 3`, three of them,
/// and a TCP_USER_TIMEOUT of `2 * idle` for data left unacknowledged.
pub(crate) fn with_keepalive<T>(port: u16, idle: Duration, connect: impl FnOnce() -> T) -> T {
    if idle.is_zero() {
        return connect();
    }
    let _one = CONNECTING.lock().unwrap_or_else(|e| e.into_inner());
    let before = sockets_to(port);
    let out = connect();
    for fd in sockets_to(port).difference(&before) {
        if let Err(e) = set_keepalive(*fd, idle) {
            tracing::debug!(fd, error = %e, "cannot set keepalive on a database socket");
        }
    }
    out
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
        let new = with_keepalive(port, Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).expect("new")
        });
        assert_eq!(timings(new.as_raw_fd()), (1, 15, 5, 3, 30_000));
        assert_eq!(
            timings(old.as_raw_fd()).0,
            0,
            "a socket from before is left alone"
        );
    }
}
