//! tokio: its timers and tasks, and reqwest (rustls) for HTTP.

use super::{BoxFuture, HttpClient, Runtime};
use crate::error::ClientError;
use crate::http::{HttpAnswer, HttpRequest, MAX_ANSWER_BYTES, Method, USER_AGENT};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenure_core::agent::TransportError;
use tokio::runtime::Handle;

/// A tokio runtime, by its handle: tasks spawned from any thread run there.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }

    /// The runtime the calling code runs in, if any.
    pub fn current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }
}

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, at: Instant) -> BoxFuture<()> {
        // The timer binds to the runtime it is made in: ours, whoever polls it.
        let _in = self.handle.enter();
        Box::pin(tokio::time::sleep_until(at.into()))
    }

    fn spawn(&self, task: BoxFuture<()>) {
        // Detached: the task ends by itself.
        drop(self.handle.spawn(task));
    }

    fn http_client(&self, ca_cert: Option<&Path>) -> Result<Arc<dyn HttpClient>, ClientError> {
        Ok(Arc::new(Reqwest(reqwest_client(ca_cert, None)?)))
    }
}

/// A reqwest client (rustls, ring) that trusts the web PKI roots plus, when
/// given, the CA in `ca_cert` (PEM): a private CA is the usual case for a
/// license server, so it is added to the roots rather than replacing them.
/// `timeout` bounds each request as a whole.
pub fn reqwest_client(
    ca_cert: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(USER_AGENT);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| ClientError::ca_cert(path, e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ClientError::ca_cert(path, e))?;
        if certs.is_empty() {
            return Err(ClientError::ca_cert(path, "no PEM certificate in the file"));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Setup(e.to_string()))
}

#[derive(Debug)]
struct Reqwest(reqwest::Client);

impl HttpClient for Reqwest {
    fn send(&self, request: HttpRequest) -> BoxFuture<Result<HttpAnswer, TransportError>> {
        let method = match request.method {
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.0.request(method, request.url);
        if let Some(token) = &request.token {
            builder = builder.header(reqwest::header::AUTHORIZATION, token.authorization());
        }
        if let Some(body) = request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, crate::http::JSON)
                .body(body);
        }
        Box::pin(async move {
            let mut response = builder.send().await.map_err(transport)?;
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(TransportError::Malformed);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpAnswer {
                status: response.status().as_u16(),
                headers,
                body,
            })
        })
    }
}

fn transport(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect
    } else {
        TransportError::Io
    }
}
