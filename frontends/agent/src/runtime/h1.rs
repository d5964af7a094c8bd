//! HTTP/1.1 for the smol runtime: the async-h1 client over async-net, TLS
//! through futures-rustls. One connection per request: an agent sends one
//! every few minutes.

use super::{BoxFuture, HttpClient};
use crate::error::ClientError;
use crate::http::{HttpAnswer, HttpRequest, JSON, MAX_ANSWER_BYTES, Method, USER_AGENT};
use futures_rustls::TlsConnector;
use http_types::Url;
use http_types::headers::{AUTHORIZATION, CONNECTION, CONTENT_TYPE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smol::io::AsyncReadExt;
use smol::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use tenure_core::agent::TransportError;

#[derive(Clone)]
pub(crate) struct H1Client {
    tls: TlsConnector,
}

impl std::fmt::Debug for H1Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Client").finish_non_exhaustive()
    }
}

impl H1Client {
    /// Trusts the web PKI roots plus, when given, the CA in `ca_cert` (PEM).
    pub(crate) fn new(ca_cert: Option<&Path>) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_cert {
            let fail = |e: &dyn ToString| ClientError::ca_cert(path, e.to_string());
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(&e))?
                .collect::<Result<_, _>>()
                .map_err(|e| fail(&e))?;
            if certs.is_empty() {
                return Err(fail(&"no PEM certificate in the file"));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| fail(&e))?;
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
        })
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpAnswer, TransportError> {
        let url = Url::parse(&request.url).map_err(|_| TransportError::Connect)?;
        let port = url.port_or_known_default().ok_or(TransportError::Connect)?;
        let tcp = match url.host() {
            Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
            Some(url::Host::Ipv4(a)) => TcpStream::connect((a, port)).await,
            Some(url::Host::Ipv6(a)) => TcpStream::connect((a, port)).await,
            None => return Err(TransportError::Connect),
        }
        .map_err(|_| TransportError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let method = match request.method {
            Method::Post => http_types::Method::Post,
            Method::Delete => http_types::Method::Delete,
        };
        let mut req = http_types::Request::new(method, url.clone());
        req.insert_header(http_types::headers::USER_AGENT, USER_AGENT);
        req.insert_header(CONNECTION, "close");
        if let Some(token) = &request.token {
            req.insert_header(AUTHORIZATION, token.authorization());
        }
        if let Some(body) = request.body {
            req.insert_header(CONTENT_TYPE, JSON);
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
        let headers = res
            .iter()
            .flat_map(|(name, values)| {
                let name = name.as_str().to_ascii_lowercase();
                values
                    .iter()
                    .map(move |v| (name.clone(), v.as_str().as_bytes().to_vec()))
            })
            .collect();
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
        Ok(HttpAnswer {
            status: res.status().into(),
            headers,
            body,
        })
    }
}

impl HttpClient for H1Client {
    fn send(&self, request: HttpRequest) -> BoxFuture<Result<HttpAnswer, TransportError>> {
        let client = self.clone();
        Box::pin(async move { client.exchange(request).await })
    }
}
