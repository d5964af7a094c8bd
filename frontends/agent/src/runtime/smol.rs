//! smol: its timers and executor, and the async-h1 client (`h1`) for HTTP.

use super::{BoxFuture, HttpClient, Runtime};
use crate::error::ClientError;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// smol's global executor, or one of the program's own.
#[derive(Debug, Clone)]
pub struct SmolRuntime {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl SmolRuntime {
    /// Tasks go to smol's global executor (`smol::spawn`), which runs on
    /// threads of its own: the caller need not drive anything.
    pub fn global() -> Self {
        Self { executor: None }
    }

    /// Tasks go to `executor`; the program must keep running it.
    pub fn on(executor: Arc<smol::Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

impl Runtime for SmolRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, at: Instant) -> BoxFuture<()> {
        Box::pin(async move {
            smol::Timer::at(at).await;
        })
    }

    fn spawn(&self, task: BoxFuture<()>) {
        // Detached: a dropped smol task would be cancelled.
        match &self.executor {
            Some(ex) => ex.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }

    fn http_client(&self, ca_cert: Option<&Path>) -> Result<Arc<dyn HttpClient>, ClientError> {
        Ok(Arc::new(super::h1::H1Client::new(ca_cert)?))
    }
}
