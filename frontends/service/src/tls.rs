//! The server's rustls configuration from PEM files (ring provider), one for
//! both frontends: they differ only in the ALPN protocols they speak.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// ALPN of a server that speaks HTTP/2 and HTTP/1.1 (tenured).
pub const ALPN_H2_HTTP11: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN of a server that speaks HTTP/1.1 only (tenured-smol: async-h1).
pub const ALPN_HTTP11: &[&[u8]] = &[b"http/1.1"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {source}")]
    ReadCert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("no certificate in {0}")]
    NoCert(PathBuf),
    #[error("cannot read TLS private key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS certificate and key do not match or are unsupported: {0}")]
    Config(#[from] rustls::Error),
}

/// Reads the certificate chain and key and builds the server configuration
/// with safe protocol versions, no client authentication and `alpn`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read_cert = |source| TlsError::ReadCert {
        path: cert.to_owned(),
        source,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(read_cert)?
        .collect::<Result<_, _>>()
        .map_err(read_cert)?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
        path: key.to_owned(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
