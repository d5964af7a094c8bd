//! What the driver needs from an async runtime: spawn a task, sleep until an
//! instant, read that instant's clock, and an HTTP client. The driver loop
//! is written once over these; `tokio` and `smol` each supply them behind
//! their feature, and a program on another runtime can implement them.

#[cfg(feature = "smol")]
mod h1;
#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "smol")]
pub use self::smol::SmolRuntime;
#[cfg(feature = "tokio")]
pub use self::tokio::{TokioRuntime, reqwest_client};

use crate::error::ClientError;
use crate::http::{HttpAnswer, HttpRequest};
use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tenure_core::agent::TransportError;

/// A future the runtime can move between threads.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async runtime, as the driver uses it.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Now, on the clock [`Runtime::sleep_until`] counts (a runtime whose
    /// tests pause time answers its paused clock).
    fn now(&self) -> Instant;

    /// Completes at `at` (at once when `at` has passed).
    fn sleep_until(&self, at: Instant) -> BoxFuture<()>;

    /// Runs `task` to completion in the background; nothing waits for it.
    fn spawn(&self, task: BoxFuture<()>);

    /// An HTTP client for the managers, trusting the web PKI roots plus,
    /// when given, the PEM CA certificate at `ca_cert`.
    fn http_client(&self, ca_cert: Option<&Path>) -> Result<Arc<dyn HttpClient>, ClientError>;
}

/// Sends one request and reads its answer. Bounding the time is the
/// caller's (the driver races each request against its timeout).
pub trait HttpClient: Send + Sync + Debug + 'static {
    /// The answer's status, headers and body. A body longer than
    /// [`crate::http::MAX_ANSWER_BYTES`] is [`TransportError::Malformed`]; a
    /// connection that cannot be made is [`TransportError::Connect`].
    fn send(&self, request: HttpRequest) -> BoxFuture<Result<HttpAnswer, TransportError>>;
}

/// The runtime `Agent::start` runs on: tokio when called inside a tokio
/// runtime (feature `tokio`), else smol's global executor (feature `smol`).
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "tokio")]
    if let Some(rt) = TokioRuntime::current() {
        return Some(Arc::new(rt));
    }
    #[cfg(feature = "smol")]
    return Some(Arc::new(SmolRuntime::global()));
    #[allow(unreachable_code)]
    None
}
