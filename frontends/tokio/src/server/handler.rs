//! One HTTP request: hyper types in, `tenure_service` plain data through, hyper
//! types out. Storage work runs on the blocking pool under a bound.

use super::gate;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenure_core::ErrorCode;
use tenure_core::wire::MAX_BODY_BYTES;
use tenure_service::framing::Verdict;
use tenure_service::plan::{Step, request};
use tenure_service::{Method, Request, Response};
use tenure_storage::Store;

/// What every connection shares: the service, its plan and its limits.
pub type Shared<S> = tenure_service::plan::Server<S>;

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Every `Cookie` header as one (HTTP/2 may send each cookie on its own).
fn cookies(h: &HeaderMap) -> Option<String> {
    let all: Vec<&str> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

fn too_large() -> Response {
    Response::error(
        ErrorCode::PayloadTooLarge,
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads the body within the size and time bounds, or says why not.
async fn read_body(
    body: Incoming,
    declared: Option<u64>,
    timeout: Duration,
) -> Result<Vec<u8>, Response> {
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => Err(Response::error(
            ErrorCode::BadRequest,
            "request body not received in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(Response::error(
            ErrorCode::BadRequest,
            format!("cannot read request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

pub fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(r.body)));
    *out.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    if let Some(ct) = r.content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Some(s) = r.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    if let Some(a) = r.allow {
        h.insert(header::ALLOW, HeaderValue::from_static(a));
    }
    // Our links are ASCII; one that is not is left out rather than sent broken.
    if let Some(link) = r.link.and_then(|l| HeaderValue::try_from(l).ok()) {
        h.insert(header::LINK, link);
    }
    // The console's headers; a value that is not a valid header is left
    // out rather than sent broken.
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            h.append(n, v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out
}

/// Asks hyper to close the connection after this answer.
fn closing(mut r: hyper::Response<Full<Bytes>>) -> hyper::Response<Full<Bytes>> {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

pub async fn handle<S: Store + 'static>(
    shared: Arc<Shared<S>>,
    gate: gate::Shared,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    // Every HTTP/1 head hyper passes on was checked by the gate, in order
    // (section 6.1); HTTP/2 has no such heads.
    let head = match (parts.version != hyper::Version::HTTP_2)
        .then(|| gate.next_verdict())
        .flatten()
    {
        Some(Verdict::Refuse(refusal)) => {
            tracing::debug!(reason = refusal.message(), "request head refused");
            return Ok(closing(to_hyper(refusal.response())));
        }
        Some(Verdict::Serve(head)) => Some(head),
        None => None,
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match read_body(body, declared, shared.plan.body_timeout).await {
        Ok(b) => b,
        // The rest of the body is not read: the connection cannot go on.
        Err(r) => return Ok(closing(to_hyper(r))),
    };
    let keep_alive = head.as_ref().is_none_or(|h| h.keep_alive);
    let request = match head.map(|h| *h) {
        // Routing takes the target's path as the gate read it, never Host.
        Some(h) => Request {
            method: h.method,
            path: h.path,
            query: h.query,
            content_type: h.content_type,
            authorization: h.authorization,
            cookie: h.cookie,
            fetch_site: h.fetch_site,
            accept: h.accept,
            body,
        },
        None => Request {
            method: Method::parse(parts.method.as_str()),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            content_type: header(&parts.headers, header::CONTENT_TYPE),
            authorization: header(&parts.headers, header::AUTHORIZATION),
            cookie: cookies(&parts.headers),
            fetch_site: header(
                &parts.headers,
                header::HeaderName::from_static("sec-fetch-site"),
            ),
            accept: header(&parts.headers, header::ACCEPT),
            body,
        },
    };
    let response = match shared.step(&request, started) {
        Step::Answer(r) => r,
        Step::Storage(work) => {
            let (label, limit) = (work.label(), work.timeout());
            let work = tokio::task::spawn_blocking(move || work.call());
            let joined = match limit {
                None => Some(work.await),
                Some(limit) => tokio::time::timeout(limit, work).await.ok(),
            };
            match joined {
                // The work goes on; its answer is not waited for.
                None => shared.storage_timed_out(label, started),
                Some(joined) => joined.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "request task failed");
                    request::lost(e.is_panic())
                }),
            }
        }
    };
    tracing::debug!(
        method = %parts.method, path = %tenure_service::http::path_for_log(&request.path), status = response.status,
        took_ms = started.elapsed().as_millis() as u64, "request"
    );
    // Say `Connection: close` whenever the connection ends after this answer
    // (HTTP/1.0 without keep-alive too), as tenured-smol does.
    if keep_alive {
        Ok(to_hyper(response))
    } else {
        Ok(closing(to_hyper(response)))
    }
}
