//! The agent over https with a private CA (`ca_cert`), on both runtimes,
//! against `tenured-smol` serving TLS: trusted with the CA, refused without.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use support::cases::within;
use support::*;
use tenure_agent::runtime::{SmolRuntime, TokioRuntime};
use tenure_agent::{Agent, AgentOptions, Event, Runtime};
use tenure_testkit::{Need, trial};

/// A CA, and a certificate it signed for localhost and 127.0.0.1.
fn tls_files(fx: &Fixture) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let params =
        CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let files = (fx.path("ca.pem"), fx.path("cert.pem"), fx.path("key.pem"));
    std::fs::write(&files.0, ca.pem()).expect("write");
    std::fs::write(&files.1, cert.pem()).expect("write");
    std::fs::write(&files.2, key.serialize_pem()).expect("write");
    files
}

async fn trusted_only_with_the_ca(rt: Arc<dyn Runtime>, port: u16, ca: PathBuf, host: &str) {
    let url = format!("https://localhost:{port}");
    let mut o = AgentOptions::new(vec![url.clone()], request(&format!("{host}.example.com")));
    o.ca_cert = Some(ca);
    o.request_timeout = Duration::from_secs(5);
    o.seed = Some(1);
    let mut agent = Agent::start_on(rt.clone(), o).expect("start");
    let first = within(&*rt, Duration::from_secs(10), agent.next_event())
        .await
        .flatten();
    assert!(matches!(first, Some(Event::Started { .. })), "{first:?}");
    let summary = agent.stop().await;
    assert_eq!((summary.releases_sent, summary.releases_confirmed), (1, 1));

    // Without the CA the agent's client refuses the server.
    let mut o = AgentOptions::new(vec![url], request(&format!("{host}2.example.com")));
    o.request_timeout = Duration::from_secs(2);
    let mut agent = Agent::start_on(rt.clone(), o).expect("start");
    let first = within(&*rt, Duration::from_secs(3), agent.next_event())
        .await
        .flatten();
    assert!(
        first.is_none(),
        "started without trusting the CA: {first:?}"
    );
    agent.stop().await;
}

fn tls_manager(fx: &Fixture) -> Server {
    let bin = server_bin("tenured-smol");
    let (_, cert, key) = tls_files(fx);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let extra = ["--tls-cert", &cert, "--tls-key", &key];
    let server = Server::start(&bin, fx, "127.0.0.1:0", &fx.sqlite_url(), &extra);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    server
}

fn over_https_on_tokio() {
    let fx = Fixture::new(3600, 4);
    let server = tls_manager(&fx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let agent_rt = Arc::new(TokioRuntime::current().expect("inside tokio"));
        trusted_only_with_the_ca(agent_rt, server.port(), fx.path("ca.pem"), "tls-tokio").await;
    });
}

fn over_https_on_smol() {
    let fx = Fixture::new(3600, 4);
    let server = tls_manager(&fx);
    smol::block_on(trusted_only_with_the_ca(
        Arc::new(SmolRuntime::global()),
        server.port(),
        fx.path("ca.pem"),
        "tls-smol",
    ));
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "over_https_on_tokio",
            &[Need::Built("tenured-smol")],
            over_https_on_tokio,
        ),
        trial(
            "over_https_on_smol",
            &[Need::Built("tenured-smol")],
            over_https_on_smol,
        ),
    ])
}
