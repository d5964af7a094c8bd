//! The listening socket, bound (and the TLS files read) before storage is
//! opened. A taken port or a bad certificate then ends the process before
//! any database connection, and its client library's threads, exists: an
//! exit while r2d2 was still opening a PostgreSQL connection crashed in
//! libpq's TLS library, which `exit` tears down.

use crate::settings::Settings;
use crate::startup::StartupError;
use std::sync::Arc;

/// The bound socket and the frontend's TLS acceptor `A`, if TLS is on.
pub struct Bound<A> {
    pub listener: std::net::TcpListener,
    pub tls: Option<A>,
}

impl<A> std::fmt::Debug for Bound<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Builds the frontend's TLS acceptor `A` speaking `alpn` when `--tls-cert`
/// and `--tls-key` are given, then binds `--listen`, non-blocking for the
/// frontend's reactor. Only checked settings bind.
pub fn bind<A: From<Arc<rustls::ServerConfig>>>(
    args: &Settings,
    alpn: &[&[u8]],
) -> Result<Bound<A>, StartupError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(A::from(
            crate::tls::server_config(c, k, alpn).map_err(|e| StartupError::Tls(e.to_string()))?,
        )),
        _ => None,
    };
    let listen =
        |e: std::io::Error| StartupError::Listen(format!("cannot listen on {}: {e}", args.listen));
    let listener = std::net::TcpListener::bind(args.listen).map_err(listen)?;
    listener.set_nonblocking(true).map_err(listen)?;
    Ok(Bound { listener, tls })
}
