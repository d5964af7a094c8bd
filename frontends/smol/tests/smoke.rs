//! `tenured-smol` as a black box on 127.0.0.1 with SQLite: the API, bad input,
//! the limits async-h1 lacks, TLS, and the SIGTERM drain.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

fn smol_server(fx: &Fixture, extra: &[&str]) -> Server {
    Server::start(&smol_bin(), fx, &fx.sqlite_url(), extra)
}

#[test]
fn api_answers_and_bad_input_errors() {
    let fx = Fixture::new(1, 3600);
    let s = smol_server(&fx, &[]);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    let a = s.addr;

    let ping = call(a, "GET", "/pingLicenseManager", &[], b"");
    assert_eq!((ping.status, ping.text().as_str()), (200, "OK"));

    let id = grant(a, "vdp1.example.com");
    let renew = call(
        a,
        "POST",
        &format!("/v1/grants/{id}/renew"),
        &[JSON],
        br#"{"client_time_ms":1}"#,
    );
    assert_eq!(renew.status, 200, "{}", renew.text());
    assert_eq!(renew.json()["grant_id"], id.as_str());
    assert_eq!(renew.header("content-type"), Some("application/json"));
    let bare = call(a, "POST", &format!("/v1/grants/{id}/renew"), &[], b"");
    assert_eq!(bare.status, 200, "{}", bare.text());
    let release = call(a, "DELETE", &format!("/v1/grants/{id}"), &[], b"");
    assert_eq!(release.status, 204);
    assert!(release.body.is_empty());
    let gone = call(a, "POST", &format!("/v1/grants/{id}/renew"), &[], b"");
    assert_eq!(
        (gone.status, gone.json()["error"].clone()),
        (404, "unknown_grant".into())
    );

    let big = vec![b' '; 17 * 1024];
    let too_large = call(a, "POST", "/v1/grants", &[JSON], &big);
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.json()["error"], "payload_too_large");

    let text = call(
        a,
        "POST",
        "/v1/grants",
        &[("Content-Type", "text/plain")],
        &grant_body("h"),
    );
    assert_eq!(text.status, 415);
    assert_eq!(text.json()["error"], "unsupported_media_type");

    let missing = call(a, "GET", "/v1/nothing-here", &[], b"");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    let wrong = call(a, "PATCH", "/v1/grants", &[], b"");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.json()["error"], "method_not_allowed");
    assert!(wrong.header("allow").is_some());

    let anon = call(a, "GET", "/v1/status", &[], b"");
    assert_eq!(anon.status, 401);
    assert_eq!(anon.json()["error"], "unauthorized");
    let status = call(a, "GET", "/v1/status", &[ADMIN], b"");
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.json()["license_id"], "TEST-SMOL-1");

    let bad_json = call(a, "POST", "/v1/grants", &[JSON], b"{not json");
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"], "bad_request");
}

#[test]
fn malformed_and_oversized_heads_get_json_errors() {
    let fx = Fixture::new(1, 3600);
    let s = smol_server(&fx, &[]);
    let raw = exchange_raw(s.addr, b"THIS IS NOT HTTP\r\n\r\n").expect("exchange");
    let a = parse(&raw).expect("complete answer");
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "bad_request");

    let long = format!(
        "GET /pingLicenseManager HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    match exchange_raw(s.addr, long.as_bytes()) {
        // Refused with 431, or the connection closed under the flood.
        Ok(raw) if !raw.is_empty() => {
            let a = parse(&raw).expect("complete answer");
            assert_eq!(a.status, 431);
            assert_eq!(a.json()["error"], "bad_request");
        }
        _ => {}
    }
    // A line that never ends is cut off, not buffered for ever.
    let mut endless = TcpStream::connect(s.addr).expect("connect");
    endless
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let chunk = vec![b'x'; 64 * 1024];
    let mut refused = false;
    // Up to 64 MiB: loopback socket buffers can absorb several MiB before a
    // loaded server gets to refuse the head, but never this much.
    for _ in 0..1024 {
        if endless.write_all(&chunk).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "64 MiB of head without a line end was accepted");
    assert_eq!(
        call(s.addr, "GET", "/pingLicenseManager", &[], b"").status,
        200
    );
}

#[test]
fn slow_heads_are_closed_while_others_are_served() {
    let fx = Fixture::new(1, 3600);
    let s = smol_server(&fx, &["--header-read-timeout", "2s"]);
    let mut slow = TcpStream::connect(s.addr).expect("connect");
    slow.write_all(b"GET /pingLicenseManager HTTP/1.1\r\nHost: t\r\n")
        .expect("half a head");
    let sent = Instant::now();
    assert_eq!(
        call(s.addr, "GET", "/pingLicenseManager", &[], b"").status,
        200
    );
    slow.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let n = slow.read(&mut buf).unwrap_or(0);
    let waited = sent.elapsed();
    assert_eq!(
        n,
        0,
        "expected a close, got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    assert_eq!(
        call(s.addr, "GET", "/pingLicenseManager", &[], b"").status,
        200
    );
}

#[test]
fn many_idle_connections_do_not_block_requests() {
    let fx = Fixture::new(1, 3600);
    let s = smol_server(&fx, &[]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(s.addr).expect("connect"))
        .collect();
    let started = Instant::now();
    for i in 0..20 {
        let id = grant(s.addr, &format!("idle{i}.example.com"));
        let r = call(s.addr, "POST", &format!("/v1/grants/{id}/renew"), &[], b"");
        assert_eq!(r.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The idle ones are still open (the idle timeout is at least 60 s).
    let mut first = &idle[0];
    first
        .write_all(&request("GET", "/pingLicenseManager", &[], b""))
        .expect("write on an idle connection");
    let mut raw = Vec::new();
    first.read_to_end(&mut raw).expect("read");
    assert_eq!(parse(&raw).expect("answer").status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let fx = Fixture::new(1, 3600);
    let s = smol_server(&fx, &[]);
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..3 {
        c.write_all(b"GET /pingLicenseManager HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("write");
        // The head and the body may come in separate segments.
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 4096];
        let a = loop {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
            if let Some(a) = parse(&raw) {
                break a;
            }
        };
        assert_eq!((a.status, a.text().as_str()), (200, "OK"));
    }
}

fn tls_files(fx: &Fixture) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
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
    let dir = fx.dir.path();
    let (ca_pem, cert_pem, key_pem) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).expect("write");
    std::fs::write(&cert_pem, cert.pem()).expect("write");
    std::fs::write(&key_pem, key.serialize_pem()).expect("write");
    (ca_pem, cert_pem, key_pem)
}

fn tls_call(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    req: &[u8],
) -> std::io::Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("pem")).expect("add");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("conn");
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(req)?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // A peer that closes without close_notify still gave a whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(raw),
        Err(e) => Err(e),
    }
}

#[test]
fn tls_with_a_private_ca() {
    let fx = Fixture::new(1, 3600);
    let (ca, cert, key) = tls_files(&fx);
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let s = smol_server(&fx, &["--tls-cert", &cert_s, "--tls-key", &key_s]);
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let raw = tls_call(
        s.addr,
        &ca,
        &request("GET", "/pingLicenseManager", &[], b""),
    )
    .expect("tls");
    let a = parse(&raw).expect("complete answer");
    assert_eq!((a.status, a.text().as_str()), (200, "OK"));
    // Plain HTTP on the TLS port gets no answer.
    let plain = exchange_raw(s.addr, &request("GET", "/pingLicenseManager", &[], b""));
    assert!(plain.map(|r| parse(&r).is_none()).unwrap_or(true));
}

#[test]
fn sigterm_drains_a_burst_and_exits_zero() {
    let fx = Fixture::new(1, 3600);
    let mut s = smol_server(&fx, &["--drain-timeout", "5s"]);
    let ids: Vec<String> = (0..8)
        .map(|i| grant(s.addr, &format!("burst{i}.example.com")))
        .collect();
    let addr = s.addr;
    let workers: Vec<_> = ids
        .into_iter()
        .map(|id| {
            std::thread::spawn(move || {
                let (mut complete, mut cut) = (0u32, 0u32);
                let end = Instant::now() + Duration::from_secs(8);
                while Instant::now() < end {
                    let req = request("POST", &format!("/v1/grants/{id}/renew"), &[], b"");
                    match exchange_raw(addr, &req) {
                        // Refused or closed before anything came back: not an answer.
                        Err(_) => break,
                        Ok(raw) if raw.is_empty() => break,
                        Ok(raw) => match parse(&raw) {
                            Some(a) if a.status == 200 => complete += 1,
                            Some(a) => panic!("unexpected answer {} {}", a.status, a.text()),
                            None => cut += 1,
                        },
                    }
                }
                (complete, cut)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    s.signal(nix::sys::signal::Signal::SIGTERM);
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("exited within the drain timeout");
    let took = signalled.elapsed();
    let (mut complete, mut cut) = (0, 0);
    for w in workers {
        let (c, x) = w.join().expect("worker");
        complete += c;
        cut += x;
    }
    assert!(status.success(), "exit {status:?}: {}", s.log_text());
    assert!(took < Duration::from_secs(6), "drain took {took:?}");
    assert!(complete > 8, "only {complete} renewals answered");
    assert_eq!(cut, 0, "{cut} answers were cut short");
    assert!(s.log_text().contains("stopped"), "{}", s.log_text());
}
