//! Request validation of `POST /v1/grants` (docs/protocol.md section 6).

use super::{Expect, check_grant, example_grant};
use crate::support::client::Request;
use crate::support::license::{long_env, long_product};
use crate::support::{Bin, Fixture, Launch, Response, Server, assert_error};
use serde_json::{Value, json};

const BODY_LIMIT: usize = 16 * 1024;

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-validation-1");
    (Server::start(bin, Launch::new(&fixture)), fixture)
}

/// An unlimited pool, so that only validation can refuse.
fn open(hostname: &str, port: i64, cores: i64) -> Value {
    json!({"environment": "production", "product": "open", "hostname": hostname,
           "port": port, "cores": cores})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn bad(server: &Server, body: &Value) {
    let resp = server.grant(body);
    assert_eq!(
        resp.status,
        400,
        "{body} should be refused: {}",
        resp.describe()
    );
    assert_error(&resp, 400, "bad_request");
}

fn ok(server: &Server, fixture: &Fixture, body: &Value) {
    let resp = server.grant(body);
    assert_eq!(
        resp.status,
        201,
        "{body} should be granted: {}",
        resp.describe()
    );
    check_grant(&resp, 201, Expect::defaults(fixture.id()));
}

pub fn name_bounds(bin: &Bin) {
    let (server, fixture) = start(bin);
    // Hostnames: 1, 127 and 128 characters pass; 0 and 129 do not.
    for len in [1, 127, 128] {
        ok(&server, &fixture, &open(&"h".repeat(len), 1, 1));
    }
    bad(&server, &open("", 1, 1));
    bad(&server, &open(&"h".repeat(129), 1, 1));
    ok(&server, &fixture, &open("A-z_0.9:x", 1, 1));
    for c in [" ", "/", "@", "%", "é", "\n", "\u{0}", "*", ",", "\\"] {
        bad(&server, &open(&format!("a{c}b"), 1, 1));
    }
    // Environment and product: 128 characters, licensed, pass; 129 do not.
    let long = json!({"environment": long_env(), "product": long_product(),
                      "hostname": "h", "port": 1, "cores": 1});
    ok(&server, &fixture, &long);
    bad(
        &server,
        &with(
            long.clone(),
            "environment",
            json!(format!("{}e", long_env())),
        ),
    );
    bad(
        &server,
        &with(
            long.clone(),
            "product",
            json!(format!("{}p", long_product())),
        ),
    );
    // 127 characters are valid names, merely not licensed.
    let env127 = with(long.clone(), "environment", json!("e".repeat(127)));
    assert_error(&server.grant(&env127), 403, "environment_not_licensed");
    let product127 = with(long, "product", json!("p".repeat(127)));
    assert_error(&server.grant(&product127), 403, "product_not_licensed");
    bad(&server, &with(open("h", 1, 1), "environment", json!("")));
    bad(
        &server,
        &with(open("h", 1, 1), "environment", json!("prod uction")),
    );
    bad(&server, &with(open("h", 1, 1), "product", json!("")));
    bad(&server, &with(open("h", 1, 1), "product", json!("op/en")));
    // Names must be strings.
    bad(&server, &with(open("h", 1, 1), "product", json!(5)));
    bad(&server, &with(open("h", 1, 1), "hostname", json!(["h"])));
}

pub fn port_bounds(bin: &Bin) {
    let (server, fixture) = start(bin);
    for port in [1, 2, 65534, 65535] {
        ok(&server, &fixture, &open("ports", port, 1));
    }
    for port in [0, 65536, -1, 1 << 40] {
        bad(&server, &open("ports", port, 1));
    }
    bad(&server, &with(open("ports", 1, 1), "port", json!("80")));
    bad(&server, &with(open("ports", 1, 1), "port", json!(1.5)));
}

pub fn cores_bounds(bin: &Bin) {
    let (server, fixture) = start(bin);
    for cores in [1, 2, 4095, 4096] {
        ok(&server, &fixture, &open("cores", 1, cores));
    }
    for cores in [0, 4097, -1, 1 << 40] {
        bad(&server, &open("cores", 1, cores));
    }
    bad(&server, &with(open("cores", 1, 1), "cores", json!("8")));
}

pub fn missing_required_fields(bin: &Bin) {
    let (server, _) = start(bin);
    for field in ["product", "hostname", "port", "cores"] {
        let mut body = example_grant();
        body.as_object_mut().expect("object").remove(field);
        bad(&server, &body);
        bad(&server, &with(example_grant(), field, Value::Null));
    }
    bad(&server, &json!({}));
}

fn post_raw(server: &Server, content_type: &str, body: &[u8]) -> Response {
    server.send(&Request {
        method: "POST",
        path: "/v1/grants",
        headers: vec![("Content-Type", content_type.to_owned())],
        body: Some(body.to_vec()),
    })
}

pub fn malformed_and_non_object_json(bin: &Bin) {
    let (server, _) = start(bin);
    let bodies: [&[u8]; 12] = [
        b"",
        b"{",
        b"{\"product\": }",
        b"{\"product\": \"vdp\",}",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b"[{\"product\": \"vdp\", \"hostname\": \"h\", \"port\": 1, \"cores\": 1}]",
        b"\"vdp\"",
        b"42",
        b"null",
        b"true",
    ];
    for body in bodies {
        let resp = post_raw(&server, "application/json", body);
        assert_eq!(
            resp.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            resp.describe()
        );
        assert_error(&resp, 400, "bad_request");
    }
}

pub fn content_type_rules(bin: &Bin) {
    let (server, fixture) = start(bin);
    let body = example_grant().to_string().into_bytes();
    for wrong in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let resp = post_raw(&server, wrong, &body);
        assert_error(&resp, 415, "unsupported_media_type");
    }
    let resp = post_raw(&server, "application/json; charset=utf-8", &body);
    check_grant(&resp, 201, Expect::defaults(fixture.id()));
}

/// A valid grant body of exactly `len` bytes (padded with an unknown field).
fn body_of_len(len: usize) -> Vec<u8> {
    let base = json!({"product": "open", "hostname": "big-body", "port": 1, "cores": 1, "pad": ""});
    let empty = base.to_string();
    assert!(len >= empty.len());
    let padded = with(base, "pad", json!("x".repeat(len - empty.len())));
    let out = padded.to_string().into_bytes();
    assert_eq!(out.len(), len);
    out
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn post_chunked(server: &Server, body: &[u8]) -> Response {
    server.send(&Request {
        method: "POST",
        path: "/v1/grants",
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("Transfer-Encoding", "chunked".to_owned()),
        ],
        body: Some(chunked(body, 4000)),
    })
}

pub fn body_limit_with_content_length(bin: &Bin) {
    let (server, fixture) = start(bin);
    for len in [BODY_LIMIT - 1, BODY_LIMIT] {
        let resp = post_raw(&server, "application/json", &body_of_len(len));
        assert_eq!(resp.status, 201, "{len} bytes: {}", resp.describe());
        check_grant(&resp, 201, Expect::defaults(fixture.id()));
    }
    for len in [BODY_LIMIT + 1, 64 * 1024] {
        let resp = post_raw(&server, "application/json", &body_of_len(len));
        assert_error(&resp, 413, "payload_too_large");
    }
    // A large body may be cut off early: a 413 or a closed connection, then still serving.
    let big = body_of_len(1024 * 1024);
    if let Ok(resp) = server.target.send(&Request {
        method: "POST",
        path: "/v1/grants",
        headers: vec![("Content-Type", "application/json".to_owned())],
        body: Some(big),
    }) {
        assert_error(&resp, 413, "payload_too_large");
    }
    assert_eq!(server.get("/pingLicenseManager").status, 200);
}

pub fn body_limit_chunked(bin: &Bin) {
    let (server, fixture) = start(bin);
    for len in [BODY_LIMIT - 1, BODY_LIMIT] {
        let resp = post_chunked(&server, &body_of_len(len));
        assert_eq!(resp.status, 201, "{len} bytes chunked: {}", resp.describe());
        check_grant(&resp, 201, Expect::defaults(fixture.id()));
    }
    for len in [BODY_LIMIT + 1, 64 * 1024] {
        let resp = post_chunked(&server, &body_of_len(len));
        assert_error(&resp, 413, "payload_too_large");
    }
    assert_eq!(server.get("/pingLicenseManager").status, 200);
}

pub fn unknown_fields_are_ignored(bin: &Bin) {
    let (server, fixture) = start(bin);
    let mut body = example_grant();
    body["future_field"] = json!([1, 2]);
    body["nested"] = json!({"a": {"b": null}});
    body["grant_id"] = json!("ffffffffffffffffffffffffffffffff");
    check_grant(&server.grant(&body), 201, Expect::defaults(fixture.id()));
    // Optional fields may be left out.
    let minimal = json!({"product": "vdp", "hostname": "m", "port": 1, "cores": 1});
    check_grant(&server.grant(&minimal), 201, Expect::defaults(fixture.id()));
}
