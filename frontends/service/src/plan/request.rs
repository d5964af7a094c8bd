//! One request on either frontend, after its body is read: answered at once,
//! refused over `--max-inflight`, or storage work for the frontend's blocking
//! pool, stopped before its 503 could go.

use super::Server;
use super::admission::Permit;
use crate::http::{Request, Response};
use crate::service::{Call, Prepared, Service};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenure_core::ErrorCode;
use tenure_storage::Store;

/// What the frontend does next with a request.
#[derive(Debug)]
pub enum Step<S> {
    /// The answer, without storage (or the refusal of an overloaded server).
    Answer(Response),
    /// Storage work: [`StorageWork::call`] on the blocking pool, waited for
    /// at most [`StorageWork::timeout`].
    Storage(StorageWork<S>),
}

/// The storage work of one request, holding its `--max-inflight` slot.
#[derive(Debug)]
pub struct StorageWork<S> {
    service: Arc<Service<S>>,
    call: Call,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    slot: Permit,
}

impl<S: Store> Server<S> {
    /// The next step of `request`, whose handling began at `started`.
    pub fn step(&self, request: &Request, started: Instant) -> Step<S> {
        let call = match self.service.prepare(request) {
            Prepared::Done(r) => return Step::Answer(r),
            Prepared::Job(call) => call,
        };
        let Some(slot) = self.inflight.try_acquire() else {
            let r = Service::<S>::overloaded();
            self.service
                .record_refused(call.label(), &r, started.elapsed());
            return Step::Answer(r);
        };
        Step::Storage(StorageWork {
            service: self.service.clone(),
            call,
            timeout: self.plan.storage_timeout,
            // What the request starts must not take effect after its 503
            // (`tenure_storage::deadline`): the storage work stops a tenth
            // of the limit before the answer goes.
            deadline: self.plan.storage_deadline(Instant::now()),
            slot,
        })
    }

    /// The answer to a request whose storage work, labelled `label`, did
    /// not finish within its timeout; the work goes on, unwaited for.
    pub fn storage_timed_out(&self, label: &'static str, started: Instant) -> Response {
        self.service.storage_timed_out(label, started.elapsed())
    }
}

impl<S: Store> StorageWork<S> {
    /// The request's name in metrics and logs.
    pub fn label(&self) -> &'static str {
        self.call.label()
    }

    /// How long the frontend waits for [`StorageWork::call`]; `None` waits
    /// as long as storage takes.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Runs the work. Blocking. A panic in it answers 503 rather than
    /// taking the frontend's worker down with it.
    pub fn call(self) -> Response {
        let Self {
            service,
            call,
            deadline,
            slot,
            ..
        } = self;
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            tenure_storage::deadline::with_deadline(deadline, || service.execute(call))
        }));
        drop(slot);
        ran.unwrap_or_else(|_| {
            tracing::error!("request task panicked");
            internal_error()
        })
    }
}

/// The answer when the frontend lost the storage work (a panic, a task
/// cancelled under it).
pub fn internal_error() -> Response {
    Response::error(ErrorCode::StorageUnavailable, "internal error; retry")
}
