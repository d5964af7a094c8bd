//! One HTTP request: http-types in, `tenure_service` plain data through,
//! http-types out. Storage work runs on the `blocking` pool under a bound.

use super::async_h1_quirks;
use super::conn::{ConnState, Phase};
use http_types::headers::{CACHE_CONTROL, CONTENT_TYPE};
use smol::Timer;
use smol::future::FutureExt;
use smol::io::AsyncReadExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenure_core::ErrorCode;
use tenure_core::wire::MAX_BODY_BYTES;
use tenure_service::framing::{Verdict, Version};
use tenure_service::plan::Step;
use tenure_service::{Request, Response};
use tenure_storage::Store;

/// What every connection shares: the service, its plan and its limits.
pub type Shared<S> = tenure_service::plan::Server<S>;

fn too_large() -> Response {
    Response::error(
        ErrorCode::PayloadTooLarge,
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads the body within the size and time bounds, or says why not.
async fn read_body(req: &mut http_types::Request, timeout: Duration) -> Result<Vec<u8>, Response> {
    match req.len() {
        Some(n) if n > MAX_BODY_BYTES => return Err(too_large()),
        // No body (a GET, a ping): nothing to read, so no timer to arm.
        Some(0) => return Ok(Vec::new()),
        _ => {}
    }
    let mut body = Vec::new();
    let cap = u64::try_from(MAX_BODY_BYTES + 1).unwrap_or(u64::MAX);
    let mut reader = req.take_body().take(cap);
    let read = async { Some(reader.read_to_end(&mut body).await) }
        .or(async {
            Timer::after(timeout).await;
            None
        })
        .await;
    match read {
        None => Err(Response::error(
            ErrorCode::BadRequest,
            "request body not received in time",
        )),
        Some(Err(e)) => Err(Response::error(
            ErrorCode::BadRequest,
            format!("cannot read request body: {e}"),
        )),
        Some(Ok(_)) if body.len() > MAX_BODY_BYTES => Err(too_large()),
        Some(Ok(_)) => Ok(body),
    }
}

pub fn to_http(r: Response) -> http_types::Response {
    let status = http_types::StatusCode::try_from(r.status)
        .unwrap_or(http_types::StatusCode::InternalServerError);
    let mut out = http_types::Response::new(status);
    if let Some(ct) = r.content_type {
        out.insert_header(CONTENT_TYPE, ct);
    }
    if let Some(s) = r.retry_after {
        out.insert_header("retry-after", s.to_string());
    }
    if let Some(a) = r.allow {
        out.insert_header("allow", a);
    }
    if let Some(link) = r.link {
        out.insert_header("link", link);
    }
    for (name, value) in r.headers {
        out.append_header(name, value);
    }
    out.insert_header(CACHE_CONTROL, "no-store");
    if r.content_type.is_some() || !r.body.is_empty() {
        out.set_body(r.body);
    }
    out
}

/// The answer, framed for the request's version and for whether the
/// connection ends after it (`async_h1_quirks::answer_as`).
fn answer(
    conn: &ConnState,
    version: Version,
    r: Response,
    close: bool,
) -> http_types::Result<http_types::Response> {
    conn.set(if close {
        Phase::Closing
    } else {
        Phase::Responding
    });
    let mut out = to_http(r);
    async_h1_quirks::answer_as(&mut out, version, close);
    Ok(out)
}

pub async fn handle<S: Store + 'static>(
    shared: Arc<Shared<S>>,
    conn: Arc<ConnState>,
    mut req: http_types::Request,
) -> http_types::Result<http_types::Response> {
    conn.set(Phase::Request);
    let started = Instant::now();
    // async-h1 decoded the canonical head the gate handed it; the request is
    // the one the gate read (section 6.1), in the same order.
    let head = match conn.next_verdict() {
        Some(Verdict::Serve(head)) => head,
        Some(Verdict::Refuse(refusal)) => {
            tracing::debug!(reason = refusal.message(), "request head refused");
            return answer(&conn, refusal.version(), refusal.response(), true);
        }
        None => {
            let r = Response::error(ErrorCode::BadRequest, "request head not read");
            return answer(&conn, Version::Http11, r, true);
        }
    };
    let body = match read_body(&mut req, shared.plan.body_timeout).await {
        Ok(b) => b,
        // The rest of the body is not read: the connection cannot go on.
        Err(r) => return answer(&conn, head.version, r, true),
    };
    let (version, keep_alive) = (head.version, head.keep_alive);
    let head = *head;
    // Routing takes the target's path as sent, never Host.
    let request = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        content_type: head.content_type,
        authorization: head.authorization,
        cookie: head.cookie,
        fetch_site: head.fetch_site,
        accept: head.accept,
        body,
    };
    let response = match shared.step(&request, started) {
        Step::Answer(r) => r,
        Step::Storage(work) => {
            let (label, limit) = (work.label(), work.timeout());
            let work = smol::unblock(move || work.call());
            let joined = match limit {
                None => Some(work.await),
                Some(limit) => {
                    // Detached, the work goes on; its answer is not waited for.
                    let work = async { Some(work.await) };
                    work.or(async {
                        Timer::after(limit).await;
                        None
                    })
                    .await
                }
            };
            joined.unwrap_or_else(|| shared.storage_timed_out(label, started))
        }
    };
    tracing::debug!(
        method = ?request.method, path = %tenure_service::http::path_for_log(&request.path), status = response.status,
        took_ms = started.elapsed().as_millis() as u64, "request"
    );
    // Once the drain has begun, every answer closes its connection.
    let close = !keep_alive || shared.is_draining();
    answer(&conn, version, response, close)
}
