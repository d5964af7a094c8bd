//! A throw-away CA and a server certificate for `localhost` / 127.0.0.1.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// The PEM files given to the server, and the CA a client should trust.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_der: CertificateDer<'static>,
}

fn new_ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.der().clone(), Issuer::new(params, key))
}

impl TlsFiles {
    /// A fresh CA and a server certificate it signed, for `localhost` and 127.0.0.1.
    pub fn generate() -> Self {
        let (ca_der, issuer) = new_ca("Tenure conformance test CA");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_der,
        }
    }

    /// A client that trusts only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        client_trusting(self.ca_der.clone())
    }
}

/// A client config that trusts exactly `ca` (ring provider).
pub fn client_trusting(ca: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA certificate is usable");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A client config trusting some other CA: must fail to talk to the server.
pub fn client_trusting_other_ca() -> Arc<rustls::ClientConfig> {
    client_trusting(new_ca("Some other CA").0)
}
