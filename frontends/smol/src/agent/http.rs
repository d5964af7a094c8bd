//! One agent request over HTTP/1.1 (the async-h1 client over async-net, TLS
//! through futures-rustls), and its answer as the core wants it. One
//! connection per request: an agent sends one every few minutes.

use futures_rustls::TlsConnector;
use http_types::Url;
use http_types::headers::{CONNECTION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smol::Timer;
use smol::future::FutureExt;
use smol::io::AsyncReadExt;
use smol::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tenure_core::agent::{Request, Response, TransportError, parse_retry_after};

/// Grant answers are a few hundred bytes; anything this big is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot use CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
}

#[derive(Clone)]
pub(crate) struct Client {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

pub(crate) fn normalise_base(url: &str) -> Result<String, ClientError> {
    let parsed = Url::parse(url).map_err(|_| ClientError::BadUrl(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ClientError::BadUrl(url.to_owned()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ClientError::BadUrl(url.to_owned()));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

impl Client {
    /// Trusts the web PKI roots plus, when given, the CA in `ca_cert` (PEM).
    pub(crate) fn new(ca_cert: Option<&Path>, timeout: Duration) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_cert {
            let fail = |reason: String| ClientError::CaCert {
                path: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("no PEM certificate in the file".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    pub(crate) async fn send(
        &self,
        base: &str,
        request: &Request,
    ) -> Result<Response, TransportError> {
        self.exchange(base, request)
            .or(async {
                Timer::after(self.timeout).await;
                Err(TransportError::Timeout)
            })
            .await
    }

    async fn exchange(&self, base: &str, request: &Request) -> Result<Response, TransportError> {
        let encode = |v: &serde_json::Value| serde_json::to_vec(v).map_err(|_| TransportError::Io);
        let (method, path, body) = match request {
            Request::Grant(body) => (
                http_types::Method::Post,
                "/v1/grants".to_owned(),
                Some(serde_json::to_vec(body).map_err(|_| TransportError::Io)?),
            ),
            Request::Renew {
                grant_id,
                client_time_ms,
            } => (
                http_types::Method::Post,
                format!("/v1/grants/{grant_id}/renew"),
                Some(encode(
                    &serde_json::json!({ "client_time_ms": client_time_ms }),
                )?),
            ),
            Request::Release { grant_id } => (
                http_types::Method::Delete,
                format!("/v1/grants/{grant_id}"),
                None,
            ),
        };
        let url = Url::parse(&format!("{base}{path}")).map_err(|_| TransportError::Connect)?;
        let port = url.port_or_known_default().ok_or(TransportError::Connect)?;
        let tcp = match url.host() {
            Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
            Some(url::Host::Ipv4(a)) => TcpStream::connect((a, port)).await,
            Some(url::Host::Ipv6(a)) => TcpStream::connect((a, port)).await,
            None => return Err(TransportError::Connect),
        }
        .map_err(|_| TransportError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let mut req = http_types::Request::new(method, url.clone());
        req.insert_header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")));
        req.insert_header(CONNECTION, "close");
        if let Some(body) = body {
            req.insert_header(CONTENT_TYPE, "application/json");
            req.set_body(body);
        }
        let mut res = if url.scheme() == "https" {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name =
                ServerName::try_from(host.to_owned()).map_err(|_| TransportError::Connect)?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|_| TransportError::Connect)?;
            async_h1::connect(tls, req).await
        } else {
            async_h1::connect(tcp, req).await
        }
        .map_err(|_| TransportError::Io)?;
        let status: u16 = res.status().into();
        // The first of several, as the tokio driver (reqwest) reads it.
        let retry_after = res
            .header(RETRY_AFTER)
            .and_then(|values| values.get(0))
            .and_then(|v| parse_retry_after(v.as_str().as_bytes()));
        // Only a JSON body is Tenure's (A4): the core reads the media type.
        let content_type = res
            .header(CONTENT_TYPE)
            .and_then(|values| values.get(0))
            .map(|v| v.as_str().to_owned());
        let mut body = Vec::new();
        let cap = u64::try_from(MAX_ANSWER_BYTES + 1).unwrap_or(u64::MAX);
        res.take_body()
            .take(cap)
            .read_to_end(&mut body)
            .await
            .map_err(|_| TransportError::Io)?;
        if body.len() > MAX_ANSWER_BYTES {
            return Err(TransportError::Malformed);
        }
        Response::decode(
            status,
            content_type.as_deref().map(str::as_bytes),
            retry_after,
            &body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One answer with the given `Retry-After` line, from a socket.
    async fn answer_with(retry_after: &str) -> Result<Response, TransportError> {
        use smol::io::AsyncWriteExt;
        let listener = smol::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let body = r#"{"error":"overloaded","message":"busy now"}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n{retry_after}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let server = smol::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            // Read the request's head before answering.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            stream.write_all(answer.as_bytes()).await.expect("write");
            let _ = stream.close().await;
        });
        let client = Client::new(None, Duration::from_secs(5)).expect("client");
        let release = Request::Release {
            grant_id: tenure_core::GrantId::from_random([1; 16]),
        };
        let out = client.send(&base, &release).await;
        server.await;
        out
    }

    #[test]
    fn retry_after_reaches_the_core_in_seconds() {
        let retry_after = |r: Result<Response, TransportError>| match r {
            Ok(Response::Error {
                status: 503,
                body: Some(_),
                retry_after,
            }) => retry_after,
            other => panic!("{other:?}"),
        };
        let s = Duration::from_secs;
        smol::block_on(async {
            assert_eq!(
                retry_after(answer_with("Retry-After: 1\r\n").await),
                Some(s(1))
            );
            assert_eq!(
                retry_after(answer_with("retry-after:  30 \r\n").await),
                Some(s(30))
            );
            assert_eq!(retry_after(answer_with("").await), None);
            assert_eq!(
                retry_after(answer_with("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n").await),
                None
            );
        });
    }

    #[test]
    fn bases_are_normalised() {
        assert_eq!(
            normalise_base("http://127.0.0.1:1/").expect("ok"),
            "http://127.0.0.1:1"
        );
        assert!(normalise_base("ftp://x").is_err());
        assert!(normalise_base("http://x/?q").is_err());
    }
}
