//! hyper reads the connection through `tenure_service::framing::Gate`
//! (section 6.1): every HTTP/1 head is checked before hyper sees it, a
//! refused one reaches hyper as a synthetic request the handler answers, and
//! hyper never reads past the message in hand.
//!
//! hyper's header timeout cannot see a head the gate still holds (the first
//! one of a connection is awaited before hyper's HTTP/1 side even starts),
//! so the gate notes when the head in progress began and the connection's
//! watchdog enforces `--header-read-timeout` from there.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tenure_service::framing::{Gate, Mode, Read, Verdict};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug)]
struct Inner {
    gate: Gate,
    /// When the first byte of the head the gate holds arrived.
    head_since: Option<Instant>,
}

/// The gate of one connection, shared by its stream, its handler and its
/// watchdog.
#[derive(Debug, Clone)]
pub struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Inner {
            gate: Gate::new(Mode::Raw),
            head_since: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The gate holds no invariant a panic elsewhere could break halfway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict on the next HTTP/1 request hyper passes the handler.
    pub fn next_verdict(&self) -> Option<Verdict> {
        self.lock().gate.next_verdict()
    }

    /// How long the head now arriving has taken so far.
    pub fn head_waiting_for(&self) -> Option<Duration> {
        self.lock().head_since.map(|t| t.elapsed())
    }
}

impl Inner {
    fn note_head(&mut self) {
        self.head_since = if self.gate.holds_partial_head() {
            self.head_since.or_else(|| Some(Instant::now()))
        } else {
            None
        };
    }
}

#[derive(Debug)]
pub struct Gated<T> {
    inner: T,
    gate: Shared,
}

impl<T> Gated<T> {
    pub fn new(inner: T, gate: Shared) -> Self {
        Self { inner, gate }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Gated<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut raw = [0u8; 8192];
        loop {
            let step = {
                let mut inner = self.gate.lock();
                let step = inner.gate.read(buf.initialize_unfilled());
                inner.note_head();
                step
            };
            match step {
                Read::Bytes(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // hyper is answering the refusal and will close; nothing
                // more is read (its task is woken by its own work).
                Read::Stalled => return Poll::Pending,
                Read::Failed(why) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
                }
                Read::NeedInput => {
                    let mut rb = ReadBuf::new(&mut raw);
                    std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
                    if rb.filled().is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    let mut inner = self.gate.lock();
                    inner.gate.push(rb.filled());
                    inner.note_head();
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Gated<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
