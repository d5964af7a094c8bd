//! One connection: async-h1's request cycle (`async_h1_quirks::serve`) over
//! a stream wrapper that knows where the connection is
//! in its request cycle, so a watchdog can enforce what async-h1 does not
//! (head timeout, idle timeout, drain), and that reads every request head
//! itself through `tenure_service::framing::Gate` (section 6.1): async-h1
//! is handed canonical HTTP/1.1 heads, one message at a time, and the
//! handler takes the request as the gate read it.

use super::async_h1_quirks;
use super::handler::{self, Shared};
use smol::channel::Receiver;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{Timer, future::FutureExt};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tenure_service::framing::{Gate, Mode, Read, Verdict};
use tenure_service::plan::ServerPlan;
use tenure_storage::Store;

/// After a close we asked for: how long and how much we read and discard so
/// the kernel does not reset the connection under the answer just written.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: u64 = 256 * 1024;
/// Bytes read from the socket at a time.
const READ_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for the first byte of a request.
    Idle = 0,
    /// Some of a head has arrived; the endpoint has not run yet.
    Head = 1,
    /// The endpoint is running.
    Request = 2,
    /// The endpoint has answered; async-h1 is writing it. The next read means it is written.
    Responding = 3,
    /// As `Responding`, then close: further reads see end of stream.
    Closing = 4,
    /// Closing ourselves: reads pass through again, to drain what the client sent.
    Linger = 5,
}

#[derive(Debug)]
pub struct ConnState {
    origin: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
    last_ms: AtomicU64,
    gate: Mutex<Gate>,
}

impl ConnState {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            phase: AtomicU8::new(Phase::Idle as u8),
            since_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            gate: Mutex::new(Gate::new(Mode::Canonical)),
        }
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        // The gate holds no invariant a panic elsewhere could break halfway.
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The request async-h1 has just decoded, as the gate read it.
    pub fn next_verdict(&self) -> Option<Verdict> {
        self.gate().next_verdict()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            2 => Phase::Request,
            3 => Phase::Responding,
            4 => Phase::Closing,
            _ => Phase::Linger,
        }
    }

    pub fn set(&self, phase: Phase) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn in_phase_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.since_ms.load(Ordering::Relaxed)),
        )
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed)),
        )
    }
}

/// The stream async-h1 sees (plain TCP or the shared TLS stream).
#[derive(Debug, Clone)]
pub struct Tracked<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.state.phase() {
            // The answer is written (async-h1 flushes before it reads again).
            Phase::Responding => self.state.set(Phase::Idle),
            Phase::Closing => return Poll::Ready(Ok(0)),
            // Draining what the client still sends: around the gate.
            Phase::Linger => return Pin::new(&mut self.inner).poll_read(cx, buf),
            _ => {}
        }
        let mut raw = [0u8; READ_BYTES];
        loop {
            let step = self.state.gate().read(buf);
            match step {
                Read::Bytes(n) => return Poll::Ready(Ok(n)),
                // Not reached: async-h1 reads no body of the synthetic
                // request a refusal becomes, and the answer closes.
                Read::Stalled => return Poll::Pending,
                Read::Failed(why) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
                }
                Read::NeedInput => {
                    let state = self.state.clone();
                    // A head that had begun behind the last one (pipelined)
                    // is on the head clock from now.
                    if state.phase() == Phase::Idle && state.gate().holds_partial_head() {
                        state.set(Phase::Head);
                    }
                    let n = std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut raw))?;
                    if n == 0 {
                        return Poll::Ready(Ok(0));
                    }
                    state.touch();
                    if state.phase() == Phase::Idle {
                        state.set(Phase::Head);
                    }
                    state.gate().push(&raw[..n]);
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let out = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(out, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch();
        }
        out
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

enum End {
    Served(http_types::Result<()>),
    Watchdog(&'static str),
}

/// Serves one connection until the client leaves, a limit closes it, or the
/// drain does.
pub async fn drive<S, IO>(io: IO, shared: Arc<Shared<S>>, stop: Receiver<()>)
where
    S: Store + 'static,
    IO: AsyncRead + AsyncWrite + Clone + Send + Sync + Unpin + 'static,
{
    let state = Arc::new(ConnState::new());
    let mut tracked = Tracked {
        inner: io,
        state: state.clone(),
    };
    let endpoint = {
        let (shared, state) = (shared.clone(), state.clone());
        move |req| handler::handle(shared.clone(), state.clone(), req)
    };
    let served = async { End::Served(async_h1_quirks::serve(tracked.clone(), endpoint).await) };
    let watchdog = async { End::Watchdog(watch(&state, &shared.plan, stop).await) };
    match served.or(watchdog).await {
        End::Served(Ok(())) => {}
        End::Served(Err(e)) => tracing::debug!(error = %e, "connection ended with an error"),
        End::Watchdog(why) => {
            tracing::debug!(why, "closing a connection");
            return;
        }
    }
    if state.phase() == Phase::Closing {
        linger(&mut tracked).await;
    }
}

/// Resolves when the connection must be closed, saying why.
async fn watch(state: &ConnState, plan: &ServerPlan, stop: Receiver<()>) -> &'static str {
    let mut draining = false;
    loop {
        let phase = state.phase();
        if draining && phase == Phase::Idle {
            return "draining";
        }
        let in_phase = state.in_phase_for();
        if phase == Phase::Head && in_phase >= plan.header_timeout {
            return "request head not received in time";
        }
        if state.idle_for() >= plan.idle_timeout {
            return "idle";
        }
        let mut next = Duration::from_secs(1);
        if phase == Phase::Head {
            next = next.min(plan.header_timeout.saturating_sub(in_phase));
        }
        let tick = Timer::after(next.max(Duration::from_millis(10)));
        if draining {
            tick.await;
        } else {
            let stop = async {
                let _ = stop.recv().await;
                true
            };
            draining = async {
                tick.await;
                false
            }
            .or(stop)
            .await;
        }
    }
}

/// Close after an answer: end our side, then read and discard what the
/// client may still send (bounded), so its unread bytes do not turn our FIN
/// into a reset that could destroy the answer in flight.
async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut Tracked<IO>) {
    io.state.set(Phase::Linger);
    let _ = io.close().await;
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
    };
    drain
        .or(async {
            Timer::after(LINGER).await;
        })
        .await;
}
