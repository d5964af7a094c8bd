//! One connection: async-h1's request decoder and answer encoder in a
//! keep-alive loop, over a stream wrapper that knows where the connection is
//! in its request cycle, so a watchdog can enforce what async-h1 does not
//! (head timeout, head size, idle timeout, drain) and a malformed head still
//! gets a section 6 JSON answer.

use super::handler::{self, Shared};
use http_types::headers::CONNECTION;
use smol::channel::Receiver;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{Timer, future::FutureExt};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tenure_core::ErrorCode;
use tenure_service::Response;
use tenure_storage::Store;

/// Bytes a client may send while its head is being read (async-h1 itself
/// refuses heads of 8 KiB or more, but only once a line ends; this bounds a
/// line that never does).
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// After a close we asked for: how long and how much we read and discard so
/// the kernel does not reset the connection under the answer just written.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: u64 = 256 * 1024;
/// The encoded answer of a connection is built here (a ping's is ~150 bytes);
/// a buffer grown past the larger size by a big answer is not kept.
const OUT_BUFFER: usize = 1024;
const MAX_KEPT_OUT_BUFFER: usize = 64 * 1024;

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
    head_bytes: AtomicUsize,
    /// The start of the current head, to answer a head async-h1 refuses
    /// (an unknown method still deserves 405 with `Allow` for its path).
    head_start: std::sync::Mutex<Vec<u8>>,
}

const HEAD_START_BYTES: usize = 512;

impl ConnState {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            phase: AtomicU8::new(Phase::Idle as u8),
            since_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            head_bytes: AtomicUsize::new(0),
            head_start: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn head_start(&self) -> Vec<u8> {
        self.head_start
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
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
        self.head_bytes.store(0, Ordering::Relaxed);
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
            _ => {}
        }
        let out = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = out
            && n > 0
        {
            let state = &self.state;
            state.touch();
            match state.phase() {
                Phase::Idle => {
                    state.set(Phase::Head);
                    state.head_bytes.store(n, Ordering::Relaxed);
                    let first = &buf[..n];
                    if let Ok(mut start) = state.head_start.lock() {
                        start.clear();
                        start.extend_from_slice(&first[..n.min(HEAD_START_BYTES)]);
                    }
                    // Every HTTP method starts with a letter: anything else
                    // (a TLS hello on the plain port, binary junk) is refused
                    // at once instead of waiting out the head timeout.
                    if !first[0].is_ascii_alphabetic() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "not an HTTP/1.1 request",
                        )));
                    }
                }
                Phase::Head => {
                    let total = state.head_bytes.fetch_add(n, Ordering::Relaxed) + n;
                    if total > MAX_HEAD_BYTES {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "Head byte length should be less than the limit",
                        )));
                    }
                }
                _ => {}
            }
        }
        out
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

/// Timeouts of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

enum End {
    Served(http_types::Result<()>),
    Watchdog(&'static str),
}

/// Serves one connection until the client leaves, a limit closes it, or the
/// drain does.
pub async fn drive<S, IO>(io: IO, shared: Arc<Shared<S>>, limits: Limits, stop: Receiver<()>)
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
    let served = async { End::Served(keep_alive(tracked.clone(), endpoint).await) };
    let watchdog = async { End::Watchdog(watch(&state, limits, stop).await) };
    match served.or(watchdog).await {
        End::Served(Ok(())) => {}
        End::Served(Err(e)) if state.phase() == Phase::Head => {
            // async-h1 refused the head and wrote nothing: answer as section 6 says.
            tracing::debug!(error = %e, "bad request head");
            state.set(Phase::Closing);
            let answer = head_refusal(&e.to_string(), &state.head_start());
            let _ = tracked.write_all(&answer).await;
            let _ = tracked.flush().await;
        }
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

/// `async_h1::accept` less what costs most per request: async-h1's request
/// cycle (its `decode` and `Encoder`) in a keep-alive loop of our own.
///
/// - No head timer per request: `async_h1::accept` arms a 60 s `Timer` on
///   async-io 1's reactor (a second reactor, on its own thread) for every
///   request, and arming it wakes that thread. The watchdog enforces the
///   head and idle timeouts instead (as it already did, with shorter limits).
/// - One write per answer: the head and body are encoded into a buffer kept
///   for the connection, not copied through an 8 KiB `BufReader` and written
///   in two `send`s.
///
/// Everything else is as in async-h1 2.3: a head async-h1 cannot decode ends
/// the connection with that error; `Connection: close` on the request or the
/// answer ends it after the answer; unread request body is read and
/// discarded after the answer is written.
async fn keep_alive<IO, F, Fut>(mut io: IO, endpoint: F) -> http_types::Result<()>
where
    IO: AsyncRead + AsyncWrite + Clone + Send + Sync + Unpin + 'static,
    F: Fn(http_types::Request) -> Fut,
    Fut: std::future::Future<Output = http_types::Result<http_types::Response>>,
{
    let says_close = |v: Option<&http_types::headers::HeaderValues>| {
        v.is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"))
    };
    let mut out = Vec::with_capacity(OUT_BUFFER);
    loop {
        let Some((req, mut body)) = async_h1::server::decode(io.clone()).await? else {
            return Ok(());
        };
        let method = req.method();
        let mut close = says_close(req.header(CONNECTION));
        let res = endpoint(req).await?;
        close |= says_close(res.header(CONNECTION));
        out.clear();
        async_h1::server::Encoder::new(res, method)
            .read_to_end(&mut out)
            .await?;
        io.write_all(&out).await?;
        io.flush().await?;
        if out.capacity() > MAX_KEPT_OUT_BUFFER {
            out = Vec::with_capacity(OUT_BUFFER);
        }
        smol::io::copy(&mut body, &mut smol::io::sink()).await?;
        if close {
            return Ok(());
        }
    }
}

/// Resolves when the connection must be closed, saying why.
async fn watch(state: &ConnState, limits: Limits, stop: Receiver<()>) -> &'static str {
    let mut draining = false;
    loop {
        let phase = state.phase();
        if draining && phase == Phase::Idle {
            return "draining";
        }
        let in_phase = state.in_phase_for();
        if phase == Phase::Head && in_phase >= limits.header {
            return "request head not received in time";
        }
        if state.idle_for() >= limits.idle {
            return "idle";
        }
        let mut next = Duration::from_secs(1);
        if phase == Phase::Head {
            next = next.min(limits.header.saturating_sub(in_phase));
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

/// An unknown method on a known path is 405 with its `Allow`, as on tokio.
fn unknown_method(head_start: &[u8]) -> Option<Response> {
    let line = head_start.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let (_method, target) = (parts.next()?, parts.next()?);
    let path = target.split('?').next().unwrap_or(target);
    match tenure_service::route::route(tenure_service::Method::Other, path) {
        tenure_service::route::Route::MethodNotAllowed(allow) => {
            let mut r = Response::error(
                ErrorCode::MethodNotAllowed,
                format!("{path} allows {allow}"),
            );
            r.allow = Some(allow);
            Some(r)
        }
        _ => Some(Response::error(ErrorCode::NotFound, "no endpoint")),
    }
}

fn raw(status: u16, reason: &str, r: &Response) -> Vec<u8> {
    let allow = r
        .allow
        .map(|a| format!("allow: {a}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\n{allow}cache-control: no-store\r\nconnection: close\r\n\
         content-length: {}\r\ncontent-type: application/json\r\n\r\n",
        r.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&r.body);
    out
}

/// The raw answer to a head async-h1 could not decode.
fn head_refusal(error: &str, head_start: &[u8]) -> Vec<u8> {
    if error.contains("Invalid HTTP method")
        && let Some(r) = unknown_method(head_start)
    {
        let reason = if r.status == 405 {
            "Method Not Allowed"
        } else {
            "Not Found"
        };
        return raw(r.status, reason, &r);
    }
    let (status, reason, msg) = if error.contains("Head byte length") {
        (
            431,
            "Request Header Fields Too Large",
            "request head too large",
        )
    } else if error.contains("Unsupported HTTP version") {
        (505, "HTTP Version Not Supported", "only HTTP/1.1 is served")
    } else {
        (400, "Bad Request", "malformed request head")
    };
    raw(
        status,
        reason,
        &Response::error(ErrorCode::BadRequest, format!("{msg}: {error}")),
    )
}
