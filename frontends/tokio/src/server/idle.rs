//! When a connection last made progress, so a watchdog can close idle ones.
//!
//! Progress is work for a request: one arriving, its handler returning, a
//! frame of its answer handed to hyper, the answer finished, and, on HTTP/1
//! only, bytes written while an answer is still going out (a slow reader of
//! a large listing). Bytes read are not progress, nor, on HTTP/2, bytes
//! written: PING, SETTINGS and WINDOW_UPDATE frames (and their
//! acknowledgements) would otherwise keep a connection that asks for
//! nothing open for ever. A handler at work keeps its connection open
//! whatever the time; its storage call is bounded by the statement timeout.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug)]
struct State {
    origin: Instant,
    last_ms: AtomicU64,
    /// Handlers running now.
    running: AtomicUsize,
    /// Answers handed to hyper and not yet finished.
    sending: AtomicUsize,
    http2: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct Activity(Arc<State>);

impl Activity {
    pub fn new() -> Self {
        Self(Arc::new(State {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
        }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.0.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long since the last progress; zero while a handler runs.
    pub fn idle_for(&self) -> Duration {
        if self.0.running.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = self.0.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// A request has arrived; the guard marks its handler's return.
    pub fn request(&self, http2: bool) -> Running {
        if http2 {
            self.0.http2.store(true, Ordering::Relaxed);
        }
        self.0.running.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Running(self.clone())
    }

    /// The answer's body, which counts as progress until it is finished.
    pub fn watch<B>(&self, body: B) -> Watched<B> {
        self.0.sending.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Watched {
            inner: body,
            activity: self.clone(),
        }
    }
}

/// A running handler; dropped when it returns.
#[derive(Debug)]
pub struct Running(Activity);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.touch();
        self.0.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body: each frame hyper takes, and its end, are progress.
#[derive(Debug)]
pub struct Watched<B> {
    inner: B,
    activity: Activity,
}

impl<B> Drop for Watched<B> {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.0.sending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Watched<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let out = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(out, Poll::Ready(Some(Ok(_)))) {
            self.activity.touch();
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream: bytes written while an HTTP/1 answer is going
/// out are progress.
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    activity: Activity,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let out = Pin::new(&mut self.inner).poll_write(cx, data);
        let state = &self.activity.0;
        if matches!(out, Poll::Ready(Ok(n)) if n > 0)
            && !state.http2.load(Ordering::Relaxed)
            && state.sending.load(Ordering::Acquire) > 0
        {
            self.activity.touch();
        }
        out
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_handler_is_never_idle_and_its_end_is_progress() {
        let a = Activity::new();
        let running = a.request(true);
        assert_eq!(a.idle_for(), Duration::ZERO);
        let body = a.watch(http_body_util::Full::new(Bytes::from_static(b"x")));
        drop(running);
        assert!(a.0.sending.load(Ordering::Acquire) == 1);
        drop(body);
        assert!(a.0.sending.load(Ordering::Acquire) == 0);
        assert!(a.0.http2.load(Ordering::Relaxed));
    }
}
