//! One request on either frontend, after its body is read: answered at once,
//! refused over `--max-inflight`, or storage work for the frontend's blocking
//! pool, stopped before its 503 could go.

use super::Server;
use super::admission::Permit;
use crate::http::{Request, Response};
use crate::service::{Call, INTERNAL_FAILED, Prepared, Service};
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

    /// Runs the work. Blocking. A panic in it is a fault in this manager,
    /// not a sign that storage is unavailable, so it answers 500 `internal`
    /// rather than taking the frontend's worker down with it. Agents count
    /// any 5xx as unreachable (PROTOCOL A4) and keep counting grace.
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
            panicked()
        })
    }
}

/// The answer when the storage work panicked: a bug in this manager, which
/// a retry may not meet again.
pub fn panicked() -> Response {
    Response::error(ErrorCode::Internal, INTERNAL_FAILED)
}

/// The answer when the frontend's runtime lost the task that ran the
/// storage work: `panicked` when the task ended in a panic that escaped
/// [`StorageWork::call`], else it was cancelled under the work.
pub fn lost(panicked: bool) -> Response {
    if panicked {
        self::panicked()
    } else {
        work_lost()
    }
}

/// The answer when the frontend lost the storage work for a reason other
/// than a panic in it (its task cancelled, the blocking pool gone with the
/// runtime): nothing in the request or the manager's code is at fault, so
/// the client backs off and retries as it would from unavailable storage.
fn work_lost() -> Response {
    Response::error(
        ErrorCode::StorageUnavailable,
        "the request's work was lost; retry",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Tokens;
    use crate::http::Method;
    use crate::plan::admission::Limit;
    use crate::service::Env;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tenure_core::UnixMillis;
    use tenure_core::manager::ManagerConfig;
    use tenure_storage::{BatchTx, Manager, MemoryStore, StorageError};

    const TOKEN: &str = "admin-token-for-tests-0001";

    /// The memory store, until `panics` is set: then every transaction
    /// panics, as a bug in storage code would.
    #[derive(Debug)]
    struct Planted {
        inner: MemoryStore,
        panics: AtomicBool,
    }

    impl Store for Planted {
        fn transaction<T>(
            &self,
            f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
        ) -> Result<T, StorageError> {
            assert!(
                !self.panics.load(Ordering::SeqCst),
                "planted panic in storage code"
            );
            self.inner.transaction(f)
        }
    }

    /// A service that has passed its first heartbeat (M6), so that API
    /// calls reach storage.
    fn service() -> Arc<Service<Planted>> {
        let env = Env {
            random: Box::new(|| [7; 16]),
            clock: Box::new(|| UnixMillis(0)),
            mono: Arc::new(|| Duration::ZERO),
        };
        let tokens = Tokens::from_file_text(TOKEN).expect("token");
        let store = Planted {
            inner: MemoryStore::new(Arc::new(|| UnixMillis(0))),
            panics: AtomicBool::new(false),
        };
        let manager = Manager::new(store, ManagerConfig::default(), Vec::new());
        let service = Arc::new(Service::new(manager, "m1".into(), tokens, env));
        service.heartbeat();
        service
    }

    #[test]
    fn a_panic_in_storage_work_answers_500_internal_and_frees_its_slot() {
        let service = service();
        service
            .manager()
            .store()
            .panics
            .store(true, Ordering::SeqCst);
        let mut request = Request::new(Method::Get, "/v1/status");
        request.authorization = Some(format!("Bearer {TOKEN}"));
        let call = match service.prepare(&request) {
            Prepared::Job(call) => call,
            Prepared::Done(r) => panic!("/v1/status should need storage: {r:?}"),
        };
        let inflight = Limit::new(1);
        let work = StorageWork {
            service,
            call,
            timeout: None,
            deadline: None,
            slot: inflight.try_acquire().expect("a free slot"),
        };
        let r = work.call();
        assert_eq!(r.status, 500);
        assert_eq!(r.retry_after, None, "a fault, not unavailability");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
        assert_eq!(body["error"], "internal", "{body}");
        assert_eq!(inflight.taken(), 0, "the slot went back");
    }

    #[test]
    fn lost_work_answers_503_storage_unavailable() {
        let r = lost(false);
        assert_eq!(r.status, 503);
        assert!(r.retry_after.is_some());
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
        assert_eq!(body["error"], "storage_unavailable", "{body}");
    }
}
