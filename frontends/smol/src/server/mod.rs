//! `tenured-smol serve`: async-h1 (HTTP/1.1) over async-net, optional TLS
//! through futures-rustls, bounded connections, bounded storage work, head,
//! body and idle timeouts, heartbeats and sweeps on smol timers, and a
//! SIGTERM drain.

mod conn;
mod handler;

use anyhow::Context;
use conn::Limits;
use handler::Shared;
use smol::future::FutureExt;
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Timer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tenure_core::health::HEARTBEAT_EVERY;
use tenure_service::Service;
use tenure_service::cli::ServeArgs;
use tenure_service::listen;
use tenure_service::per_ip::PerIp;
use tenure_service::plan::ServerPlan;
use tenure_service::settings::Settings;
use tenure_service::startup::StartupError;
use tenure_storage::Store;

/// Counts a live connection; the count falls when it drops.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The listening socket and TLS settings, ready before storage is opened.
pub type Bound = listen::Bound<futures_rustls::TlsAcceptor>;

/// Reads the TLS files and binds the listening address; the binary calls
/// this before it opens storage (see `tenure_service::listen`).
pub fn bind(args: &Settings) -> Result<Bound, StartupError> {
    listen::bind(args, tenure_service::tls::ALPN_HTTP11)
}

/// Runs the server on `ex` and `bound` until `shutdown` resolves, then
/// drains and deregisters.
pub async fn serve<S: Store + 'static>(
    ex: Arc<Executor<'static>>,
    bound: Bound,
    service: Arc<Service<S>>,
    args: &ServeArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listen::Bound { listener, tls } = bound;
    let listener = TcpListener::try_from(listener).context("listening socket")?;
    let local = listener.local_addr().context("local address")?;
    tenure_service::launch::announce(local, tls.is_some(), service.node_id());
    let plan = ServerPlan::of(args);

    let shared = Arc::new(Shared {
        service: service.clone(),
        inflight: Arc::new(Semaphore::new(plan.max_inflight)),
        plan,
        draining: AtomicBool::new(false),
    });
    let active = Arc::new(AtomicUsize::new(0));
    let max_connections = plan.max_connections;
    let per_ip = Arc::new(PerIp::new(plan.max_connections_per_ip));
    // Closing the channel (dropping the sender) tells every connection to drain.
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let background = spawn_background(&ex, service.clone(), plan.sweep_every);
    let limits = Limits {
        header: plan.header_timeout,
        // Idle keep-alive connections are closed after this (as tokio does).
        idle: plan.idle_timeout,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                shutdown.as_mut().await;
                None
            })
            .await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= max_connections {
            active.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(%peer, "connection limit reached; closing");
            drop(stream);
            continue;
        }
        let slot = Slot(active.clone());
        let Some(ip_slot) = per_ip.admit(peer.ip()) else {
            tracing::warn!(%peer, "connection limit for this address reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (shared, tls, stop) = (shared.clone(), tls.clone(), stop_rx.clone());
        ex.spawn(async move {
            connection(stream, tls, shared, limits, stop).await;
            drop(ip_slot);
            drop(slot);
        })
        .detach();
    }
    tracing::info!("shutting down: draining in-flight requests");
    drop(listener);
    shared.draining.store(true, Ordering::Relaxed);
    drop(stop_tx);
    let deadline = Instant::now() + plan.drain_timeout;
    while active.load(Ordering::Acquire) > 0 {
        if Instant::now() >= deadline {
            tracing::warn!(
                open = active.load(Ordering::Acquire),
                "drain timeout: closing the remaining connections"
            );
            break;
        }
        Timer::after(Duration::from_millis(20)).await;
    }
    drop(background);
    let svc = service.clone();
    smol::unblock(move || svc.deregister()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Heartbeats every 2 s and sweeps; cancelled when the tasks are dropped.
fn spawn_background<S: Store + 'static>(
    ex: &Executor<'static>,
    service: Arc<Service<S>>,
    sweep_every: Duration,
) -> [smol::Task<()>; 2] {
    // A heartbeat or sweep whose database call hangs must not stop the next
    // ones (M6 counts on them): one of each runs at a time, and a tick that
    // finds the last still running skips.
    let every = |period: Duration, work: fn(&Service<S>)| {
        let service = service.clone();
        ex.spawn(async move {
            let running = Arc::new(AtomicBool::new(false));
            loop {
                Timer::after(period).await;
                if running.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        "the last heartbeat or sweep is still waiting for storage; skipping one"
                    );
                    continue;
                }
                let (svc, done) = (service.clone(), running.clone());
                smol::unblock(move || {
                    work(&svc);
                    done.store(false, Ordering::Release);
                })
                .detach();
            }
        })
    };
    [
        every(HEARTBEAT_EVERY, Service::heartbeat),
        every(sweep_every.max(Duration::from_secs(1)), Service::sweep),
    ]
}

async fn connection<S: Store + 'static>(
    stream: TcpStream,
    tls: Option<futures_rustls::TlsAcceptor>,
    shared: Arc<Shared<S>>,
    limits: Limits,
    stop: smol::channel::Receiver<()>,
) {
    let Some(acceptor) = tls else {
        return conn::drive(stream, shared, limits, stop).await;
    };
    let handshake = async { Some(acceptor.accept(stream).await) }
        .or(async {
            Timer::after(limits.header).await;
            None
        })
        .await;
    match handshake {
        Some(Ok(tls_stream)) => {
            // async-h1 needs a `Clone` stream; a TLS stream is shared behind a lock
            // (as smol's own async-h1 example does).
            let io = async_dup::Arc::new(async_dup::Mutex::new(tls_stream));
            conn::drive(io, shared, limits, stop).await
        }
        Some(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        None => tracing::debug!("TLS handshake timed out"),
    }
}
