use super::error::ClientError;
use std::path::Path;
use std::time::Duration;

/// An HTTP client that trusts the web PKI roots plus, when given, the CA in
/// `ca_cert` (PEM). A private CA is the usual case for a license server, so it
/// is added to the roots rather than replacing them.
pub fn http_client(
    ca_cert: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .user_agent(concat!("tenure/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| ClientError::CaCert {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::CaCert {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ClientError::CaCert {
                path: path.display().to_string(),
                reason: "no PEM certificate in the file".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Setup(e.to_string()))
}
