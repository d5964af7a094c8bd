//! The request path both servers share. `prepare` is cheap and never touches
//! storage: it answers what it can at once (ping, health, metrics, every
//! malformed or unauthorised request) and turns the rest into a `Job`.
//! `execute` runs a job against storage and blocks: frontends call it on their
//! blocking pool, bounded, and answer 503 `overloaded` when the bound is hit.

use crate::auth::{Caller, Tokens};
use crate::components::{Admission, ComponentTokens};
use crate::console::{self, Console};
use crate::http::{self, Request, Response};
use crate::listing;
use crate::metrics::{self, Metrics, Outcome};
use crate::node::{HealthView, NodeState};
use crate::query;
use crate::report_query::{ReportQuery, report_query};
use crate::reports::DEFAULT_USAGE_RETENTION;
use crate::route::{Route, route};
use component::ComponentCall;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tenure_agent::suspend::SuspendMeter;
use tenure_core::health::{self, LIVENESS, MAX_CLOCK_SKEW};
use tenure_core::manager::{self, PoolTotals};
use tenure_core::wire::AuditResult;
use tenure_core::wire::{
    GrantRequest, Instance, MAX_BODY_BYTES, ManagerView, PoolKey, RawGrantRequest, ReleaseRequest,
    StatusView,
};
use tenure_core::{ErrorCode, GrantId, UnixMillis};
use tenure_storage::{Manager, ManagerError, MonoClock, StorageErrorKind, Store};

mod audit;
pub mod component;
mod periodic;
pub use audit::Refused;

/// Where a service gets what the core may not read itself.
pub struct Env {
    /// 16 bytes from a CSPRNG; 16 zero bytes when it has none to give
    /// (`Env::system` on a failed getrandom). Those are never used: a
    /// grant or a console sign-in then answers 503 (docs/semantics.md).
    pub random: Box<dyn Fn() -> [u8; 16] + Send + Sync>,
    /// The wall clock, for the offset to the storage clock (T4).
    pub clock: Box<dyn Fn() -> UnixMillis + Send + Sync>,
    /// A monotonic clock that counts suspend: how long the last heartbeat's
    /// word holds (M6), and the yardstick for storage clock steps (M9).
    pub mono: MonoClock,
}

/// CLOCK_MONOTONIC plus the time the host spent suspended: a manager host
/// that slept must not serve on a heartbeat from before its sleep.
pub fn system_mono() -> MonoClock {
    let start = Instant::now();
    let meter = SuspendMeter::new();
    Arc::new(move || meter.mono(start.elapsed()))
}

impl Env {
    /// The operating system's CSPRNG, wall clock and monotonic clock.
    pub fn system() -> Self {
        Self {
            random: Box::new(|| {
                let mut b = [0u8; 16];
                // getrandom only fails when the OS has no entropy source at
                // all; the zeros say so to `Service::draw`.
                if let Err(e) = getrandom::fill(&mut b) {
                    tracing::error!("no OS randomness: {e}");
                    b = [0; 16];
                }
                b
            }),
            clock: Box::new(system_clock),
            mono: system_mono(),
        }
    }
}

pub fn system_clock() -> UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    UnixMillis(ms)
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

/// Work for the blocking pool: a validated request.
#[derive(Debug, Clone)]
pub enum Job {
    Grant(Box<GrantRequest>),
    Renew {
        id: GrantId,
        client_time: Option<UnixMillis>,
    },
    Release(GrantId),
    Status,
    Grants(query::GrantsPage),
    Usage(query::UsagePage),
    Audit(query::AuditPage),
    /// A call answered without acting, which leaves an audit row.
    Refused(Box<Refused>),
    Report(ReportQuery),
    AdminRelease(Box<Instance>),
    Revoke(GrantId),
    PutLicense(String),
    /// A console page that reads or changes storage.
    Console(Box<console::Work>),
}

impl Job {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Grant(_) => "grant",
            Self::Renew { .. } => "renew",
            Self::Release(_) => "release",
            Self::Status => "status",
            Self::Grants(_) => "grants",
            Self::Usage(_) => "usage",
            Self::Audit(_) => "audit",
            Self::Refused(r) => r.label,
            Self::Report(_) => "report",
            Self::AdminRelease(_) => "admin_release",
            Self::Revoke(_) => "revoke",
            Self::PutLicense(_) => "put_license",
            Self::Console(_) => "console",
        }
    }
}

/// A job and who asked for it: the token's name and role (section 6.2) for
/// admin calls, console pages and, with component tokens (M10), component
/// calls; `None` for a component call on a manager without them.
#[derive(Debug, Clone)]
pub struct Call {
    pub job: Job,
    pub caller: Option<Caller>,
}

impl Call {
    pub fn label(&self) -> &'static str {
        self.job.label()
    }
}

#[derive(Debug)]
pub enum Prepared {
    Done(Response),
    Job(Call),
}

impl Prepared {
    fn job(job: Job) -> Self {
        Self::Job(Call { job, caller: None })
    }
}

pub struct Service<S> {
    manager: Manager<S>,
    node_id: String,
    tokens: Tokens,
    components: ComponentTokens,
    console: Console,
    node: RwLock<NodeState>,
    metrics: Metrics,
    env: Env,
    /// How long usage rows are kept once their days are rolled up, and
    /// audit rows (6.3).
    pub(crate) usage_retention: Duration,
}

impl<S> std::fmt::Debug for Service<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// The body of a renewal: optional, and only the client's clock in it (T5).
#[derive(Debug, Default, serde::Deserialize)]
struct RenewBody {
    #[serde(default)]
    client_time_ms: Option<i64>,
}

/// What a client reads when storage failed; the log has the detail.
pub const STORAGE_FAILED: &str =
    "storage is unavailable; retry after Retry-After (the manager's log has the detail)";

/// What a client reads when the manager broke one of its own rules; the log
/// has the detail.
pub const INTERNAL_FAILED: &str = "internal error; retry (the manager's log has the detail)";

fn bad(msg: impl Into<String>) -> Prepared {
    Prepared::Done(Response::error(ErrorCode::BadRequest, msg))
}

fn unknown_grant() -> Response {
    Response::error(ErrorCode::UnknownGrant, "no such grant; request a new one")
}

impl<S: Store> Service<S> {
    /// The manager watches the storage clock with `env.mono` (M9) and
    /// registers under a fresh random nonce (M6).
    pub fn new(manager: Manager<S>, node_id: String, tokens: Tokens, env: Env) -> Self {
        let drawn = (env.random)();
        if drawn == [0; 16] {
            // `startup::build` checked the OS source first; an embedder's may fail.
            tracing::error!(
                "no random nonce for this manager process (M6): its duplicate check is blind"
            );
        }
        let nonce: String = drawn.iter().map(|b| format!("{b:02x}")).collect();
        let manager = manager
            .with_monotonic(env.mono.clone())
            .with_instance(nonce);
        Self {
            manager,
            node_id,
            tokens,
            components: ComponentTokens::none(),
            console: Console::new(false),
            node: RwLock::new(NodeState::default()),
            metrics: Metrics::default(),
            env,
            usage_retention: DEFAULT_USAGE_RETENTION,
        }
    }

    /// Marks the console's session cookies `Secure`: the manager is reached
    /// over HTTPS (section 6.2, `docs/console.md`).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.console = Console::new(secure);
        self
    }

    /// Grant, renew and release need one of `tokens` (M10).
    pub fn with_component_tokens(mut self, tokens: ComponentTokens) -> Self {
        self.components = tokens;
        self
    }

    pub fn component_tokens(&self) -> &ComponentTokens {
        &self.components
    }

    /// SIGHUP: re-reads the component token file, or keeps the tokens in
    /// force and says why (`crate::components`).
    pub fn reload_component_tokens(&self) {
        match self.components.reload() {
            Ok(names) => tracing::info!(
                tokens = ?names,
                "component token file re-read: these tokens are accepted now"
            ),
            Err(e) if self.components.required() => {
                tracing::error!("component token file not re-read, the tokens in force stay: {e}")
            }
            Err(e) => tracing::info!("SIGHUP: {e}"),
        }
    }

    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The admin token file's tokens: the console's audit page names each
    /// row's role from them.
    pub(crate) fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn manager(&self) -> &Manager<S> {
        &self.manager
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn now(&self) -> UnixMillis {
        (self.env.clock)()
    }

    fn mono(&self) -> Duration {
        (self.env.mono)()
    }

    fn node(&self) -> NodeState {
        self.node.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `/pingLicenseManager` answers 200 right now.
    pub fn is_serving(&self) -> bool {
        self.node().serving(self.mono()).is_ok()
    }

    /// The cheap half of a request: no storage, never blocks.
    pub fn prepare(&self, req: &Request) -> Prepared {
        let r = route(req.method, &req.path);
        match r {
            Route::NotFound => Prepared::Done(Response::error(
                ErrorCode::NotFound,
                format!("no endpoint at {}", truncate(&req.path)),
            )),
            Route::MethodNotAllowed(allow) => {
                let mut resp = Response::error(
                    ErrorCode::MethodNotAllowed,
                    format!("{} allows {allow}", truncate(&req.path)),
                );
                resp.allow = Some(allow);
                Prepared::Done(resp)
            }
            Route::Ping => Prepared::Done(self.ping()),
            Route::Health => Prepared::Done(self.health(req)),
            Route::Metrics => Prepared::Done(match self.metrics.render() {
                Ok(text) => Response {
                    content_type: Some(metrics::CONTENT_TYPE),
                    body: text.into_bytes(),
                    ..Response::empty(200)
                },
                // No wire error code fits a scrape that could not be
                // written; a 500 marks the scrape failed rather than serving
                // part of it.
                Err(_) => Response {
                    content_type: Some(http::TEXT),
                    body: b"the metrics could not be encoded
"
                    .to_vec(),
                    ..Response::empty(500)
                },
            }),
            Route::Console => {
                match self
                    .console
                    .prepare(req, &self.tokens, self.now(), &*self.env.random)
                {
                    console::Step::Done(r) => Prepared::Done(r),
                    console::Step::Refused(r, caller) => Prepared::Job(Call {
                        job: Job::Refused(r),
                        caller,
                    }),
                    console::Step::Work(w) => Prepared::Job(Call {
                        caller: Some(w.caller().clone()),
                        job: Job::Console(w),
                    }),
                }
            }
            other => match self.admit(&other, req) {
                Err(refused) => self.refusal(&other, req, refused),
                // Who asked travels with the job (logs, the audit trail).
                Ok(caller) => match self.decode(other, req) {
                    Prepared::Job(call) => Prepared::Job(Call { caller, ..call }),
                    done => done,
                },
            },
        }
    }

    /// The checks every API call passes before its body is decoded: size,
    /// token and role (section 6.2), M6, media type. `Ok` carries the
    /// caller of an admin call.
    fn admit(&self, r: &Route, req: &Request) -> Result<Option<Caller>, Response> {
        if req.body.len() > MAX_BODY_BYTES {
            return Err(Response::error(
                ErrorCode::PayloadTooLarge,
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            ));
        }
        let mut caller = None;
        if r.is_admin() {
            let Some(c) = self.tokens.authenticate(req.authorization.as_deref()) else {
                return Err(Response::error(
                    ErrorCode::Unauthorized,
                    "admin calls need `Authorization: Bearer <token>` with a token of the admin token file",
                ));
            };
            if r.is_admin_only() && !c.role.may_act() {
                tracing::info!(token = %c.name, role = %c.role, route = r.label(), "admin call refused to a viewer");
                return Err(Response::error(
                    ErrorCode::Forbidden,
                    format!(
                        "token `{}` is a {}: only an admin token may release, revoke or install a license",
                        c.name, c.role
                    ),
                ));
            }
            caller = Some(c);
        }
        if r.is_component() {
            match self.components.authenticate(req.authorization.as_deref()) {
                Admission::Open => {}
                Admission::Token(c) => caller = Some(c),
                Admission::Refused => {
                    return Err(Response::error(
                        ErrorCode::Unauthorized,
                        "grant, renew and release need `Authorization: Bearer <token>` with a token of the component token file (M10)",
                    ));
                }
            }
        }
        // M6: a manager that must not serve answers every API call 503,
        // also one that cannot confirm from storage that it may (fails
        // closed). A license that is missing or expired is no reason: its
        // own answers say so.
        if let Some((code, msg)) = self.node().refusal_code(self.mono())
            && matches!(
                code,
                ErrorCode::TooManyManagers | ErrorCode::StorageUnavailable
            )
        {
            return Err(Response::error(code, msg));
        }
        let json_body = matches!(r, Route::Grant | Route::AdminRelease)
            || (matches!(r, Route::Renew(_)) && !req.body.is_empty());
        if json_body && !http::is_json(req.content_type.as_deref()) {
            return Err(Response::error(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        Ok(caller)
    }

    /// An admitted API call's job, or why its input is refused.
    fn decode(&self, r: Route, req: &Request) -> Prepared {
        match r {
            Route::Grant => {
                match RawGrantRequest::from_json(&req.body).and_then(|g| g.validate()) {
                    Ok(g) => Prepared::job(Job::Grant(Box::new(g))),
                    Err(e) => bad(e.to_string()),
                }
            }
            Route::Renew(id) => {
                let Ok(id) = GrantId::parse(&id) else {
                    return Prepared::Done(unknown_grant());
                };
                let body: RenewBody = if req.body.is_empty() {
                    RenewBody::default()
                } else {
                    match parse_object(&req.body) {
                        Ok(b) => b,
                        Err(e) => return bad(e),
                    }
                };
                let client_time = match body.client_time_ms {
                    None => None,
                    Some(t) if (0..=tenure_core::wire::CLIENT_TIME_MAX_MS).contains(&t) => {
                        Some(UnixMillis(t))
                    }
                    Some(t) => return bad(format!("client_time_ms {t} is out of range")),
                };
                Prepared::job(Job::Renew { id, client_time })
            }
            Route::Release(id) => match GrantId::parse(&id) {
                Ok(id) => Prepared::job(Job::Release(id)),
                Err(_) => Prepared::Done(unknown_grant()),
            },
            Route::Status => Prepared::job(Job::Status),
            Route::Grants => match query::grants_page(req.query.as_deref()) {
                Ok(page) => Prepared::job(Job::Grants(page)),
                Err(e) => bad(e),
            },
            Route::Usage => match query::usage_page(req.query.as_deref()) {
                Ok(page) => Prepared::job(Job::Usage(page)),
                Err(e) => bad(e),
            },
            Route::Audit => match query::audit_page(req.query.as_deref()) {
                Ok(page) => Prepared::job(Job::Audit(page)),
                Err(e) => bad(e),
            },
            Route::Report => match report_query(req.query.as_deref(), req.accept.as_deref()) {
                Ok(q) => Prepared::job(Job::Report(q)),
                Err(e) => bad(e),
            },
            // An admin action whose input cannot be read still leaves a row.
            Route::AdminRelease => {
                match ReleaseRequest::from_json(&req.body).and_then(|r| r.validate()) {
                    Ok(i) => Prepared::job(Job::AdminRelease(Box::new(i))),
                    Err(e) => {
                        let answer = Response::error(ErrorCode::BadRequest, e.to_string());
                        audit::unread(&r, "-", AuditResult::BadRequest, answer)
                    }
                }
            }
            Route::Revoke(ref id) => match GrantId::parse(id) {
                Ok(id) => Prepared::job(Job::Revoke(id)),
                Err(_) => {
                    let answer = Response::error(ErrorCode::NotFound, "no such grant");
                    audit::unread(&r, id, AuditResult::NotFound, answer)
                }
            },
            Route::PutLicense => match String::from_utf8(req.body.clone()) {
                Ok(text) => Prepared::job(Job::PutLicense(text)),
                Err(_) => {
                    let answer = Response::error(ErrorCode::BadRequest, "a license is UTF-8 text");
                    audit::unread(&r, "-", AuditResult::Invalid, answer)
                }
            },
            Route::Ping
            | Route::Health
            | Route::Metrics
            | Route::Console
            | Route::NotFound
            | Route::MethodNotAllowed(_) => {
                Prepared::Done(Response::error(ErrorCode::NotFound, "no endpoint"))
            }
        }
    }

    fn ping(&self) -> Response {
        match self.node().serving(self.mono()) {
            Ok(()) => Response::text(200, "OK"),
            Err(e) => {
                let retry = e.code().retry_after_s().unwrap_or(2);
                Response::text(503, format!("NOT SERVING: {e}")).with_retry_after(retry)
            }
        }
    }

    /// The detail of a storage failure only for a caller with a token of
    /// the admin token file; anyone may ask for health.
    fn health(&self, req: &Request) -> Response {
        let detail = self
            .tokens
            .authenticate(req.authorization.as_deref())
            .is_some();
        let view = self.health_view(detail);
        let status = if view.serving { 200 } else { 503 };
        let resp = Response::json(status, &view);
        if status == 503 {
            resp.with_retry_after(2)
        } else {
            resp
        }
    }

    /// The blocking half: one storage transaction (or a few reads).
    pub fn execute(&self, call: Call) -> Response {
        let started = Instant::now();
        let label = call.label();
        let (resp, outcome) = self.run(call.job, call.caller.as_ref());
        self.metrics
            .record(label, resp.status, outcome, started.elapsed());
        resp
    }

    /// Counts a request the frontend refused before `execute` (overload).
    pub fn record_refused(&self, label: &'static str, resp: &Response, took: Duration) {
        self.metrics
            .record(label, resp.status, Outcome::Overloaded, took);
    }

    fn run(&self, job: Job, caller: Option<&Caller>) -> (Response, Outcome) {
        match job {
            Job::Grant(request) => {
                let random = draw(&*self.env.random);
                component::run(&self.manager, ComponentCall::Grant { request, random }).written()
            }
            Job::Renew { id, client_time } => {
                component::run(&self.manager, ComponentCall::Renew { id, client_time }).written()
            }
            Job::Release(id) => component::run(&self.manager, ComponentCall::Release(id)).written(),
            Job::Revoke(id) => self.revoke(id, caller),
            Job::AdminRelease(instance) => self.admin_release(&instance, caller),
            Job::Refused(r) => self.refused(&r, caller),
            Job::Console(work) => (console::run(self, *work), Outcome::Other),
            Job::Status => self.read_view(|s| s.status_view().map(|v| Response::json(200, &v))),
            Job::Grants(page) => self.read_view(|s| listing::grants(&s.manager, page)),
            Job::Usage(page) => self.read_view(|s| listing::usage(&s.manager, page)),
            Job::Audit(page) => self.read_view(|s| listing::audit(&s.manager, page)),
            Job::Report(q) => self.report(q),
            Job::PutLicense(text) => self.put_license(&text, caller),
        }
    }

    fn read_view(
        &self,
        f: impl FnOnce(&Self) -> Result<Response, ManagerError>,
    ) -> (Response, Outcome) {
        match f(self) {
            Ok(r) => (r, Outcome::Other),
            Err(e) => failure(&e),
        }
    }

    /// `/v1/health`'s view of this manager, from its last heartbeat;
    /// `detail`: with the text of a storage failure.
    pub(crate) fn health_view(&self, detail: bool) -> HealthView {
        self.node()
            .health(&self.node_id, self.mono(), LIVENESS, MAX_CLOCK_SKEW, detail)
    }

    /// `/v1/status`: the license, each pool against its limits, the managers.
    pub(crate) fn status_view(&self) -> Result<StatusView, ManagerError> {
        let lic = self.manager.license()?;
        let (at, totals, records) = self
            .manager
            .read_at(|tx, at| Ok((*at, tx.pool_totals(at.deadlines)?, tx.managers()?)))?;
        let now = at.storage;
        let mut pools: std::collections::BTreeMap<PoolKey, PoolTotals> =
            totals.into_iter().map(|r| (r.pool, r.totals)).collect();
        for (env, products) in &lic.limits {
            for product in products.keys() {
                pools
                    .entry(PoolKey::new(env.clone(), product.clone()))
                    .or_default();
            }
        }
        let order = health::serving_order(&records, now, LIVENESS);
        let max = usize::try_from(lic.max_managers).unwrap_or(usize::MAX);
        let managers = records
            .iter()
            .map(|r| ManagerView {
                node_id: r.node_id.clone(),
                live: r.is_live(now, LIVENESS),
                serving: order.iter().take(max).any(|o| o.node_id == r.node_id),
                last_seen_ms: r.last_seen.0,
                clock_offset_ms: r.clock_offset_ms,
            })
            .collect();
        let view = StatusView {
            license_id: lic.license_id.clone(),
            licensee: lic.licensee.clone(),
            license_not_after_ms: lic.not_after.0,
            license_expires_in_s: at.license.secs_until(lic.not_after),
            max_managers: lic.max_managers,
            pools: pools
                .iter()
                .map(|(k, t)| manager::pool_usage(&lic, k, *t))
                .collect(),
            managers,
            server_time_ms: now.0,
        };
        Ok(view)
    }

    /// Leaves the registry on a clean shutdown so a peer need not wait out
    /// the liveness window.
    pub fn deregister(&self) {
        if let Err(e) = self.manager.deregister(&self.node_id) {
            tracing::warn!(error = %e, "could not deregister");
        }
    }

    /// The answer to a request whose storage work did not finish within the
    /// statement timeout (`--db-statement-timeout`): the connection it runs
    /// on may wait for an answer the network lost. The work goes on in the
    /// background; what it does is not acknowledged, so nothing answered is
    /// lost (M4), and a retry is safe (M3 for a grant).
    pub fn storage_timed_out(&self, label: &'static str, took: Duration) -> Response {
        tracing::warn!(
            request = label,
            took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "storage did not answer within the statement timeout; answered 503"
        );
        let r = Response::error(ErrorCode::StorageUnavailable, STORAGE_FAILED);
        self.metrics
            .record(label, r.status, Outcome::StorageError, took);
        r
    }

    /// The answer when the blocking pool is full.
    pub fn overloaded() -> Response {
        Response::error(
            ErrorCode::Overloaded,
            "the manager is at its concurrency limit; retry shortly",
        )
    }

    /// Convenience for tests and simple drivers: both halves in one call.
    pub fn handle(&self, req: &Request) -> Response {
        match self.prepare(req) {
            Prepared::Done(r) => r,
            Prepared::Job(call) => self.execute(call),
        }
    }
}

/// The answer to a call that failed, as the service writes it. A denial
/// says why; a storage failure says only that storage failed: the
/// database's own text (host, user, driver detail) goes to the log. Public
/// so that the simulator's managers answer exactly as this service does.
pub fn failure(e: &ManagerError) -> (Response, Outcome) {
    let code = e.code();
    let message = match e {
        ManagerError::Denied(_) => {
            return (
                Response::error(code, e.to_string()),
                Outcome::Denied(code.as_str()),
            );
        }
        ManagerError::Internal(_) => return internal_failure(e),
        ManagerError::Storage(s) if s.kind() == StorageErrorKind::Internal => {
            return internal_failure(e);
        }
        ManagerError::NoLicense => "no license is installed; retry later".to_owned(),
        ManagerError::BadStoredLicense(_) => {
            "the license in storage does not verify; retry later".to_owned()
        }
        ManagerError::Storage(_) => STORAGE_FAILED.to_owned(),
    };
    tracing::warn!(error = %e, "request failed on storage");
    (Response::error(code, message), Outcome::StorageError)
}

/// A fault in this manager, not in storage: it needs a fix, so it is logged
/// as an error and not counted as a storage failure.
fn internal_failure(e: &ManagerError) -> (Response, Outcome) {
    tracing::error!(error = %e, "request failed on an internal error");
    (
        Response::error(ErrorCode::Internal, INTERNAL_FAILED),
        Outcome::Other,
    )
}

/// 16 random bytes, or `None` when the source had none (`Env::random`).
pub(crate) fn draw(random: &dyn Fn() -> [u8; 16]) -> Option<[u8; 16]> {
    Some(random()).filter(|b| *b != [0; 16])
}

fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body)
            .map_err(|e| format!("request body is not valid JSON for this call: {e}")),
        _ => Err("request body is not valid JSON for this call: expected a JSON object".into()),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}
