//! Request bodies and path parameters of every endpoint that takes one:
//! `POST /v1/grants` (RawGrantRequest), `POST /v1/admin/release`
//! (ReleaseRequest), the `{grant_id}` of renew/release/revoke (GrantId), and
//! the durations of the command line.
//!
//! Asserts: no panic; a validated grant request satisfies section 6 (names,
//! port 1-65535, cores 1-4096, hostname lower case, client time in range) and
//! comes back unchanged through `to_raw` and through JSON; the release body of
//! the same bytes names the same instance; a grant id has one lower-case
//! spelling that parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenure_core::GrantId;
use tenure_core::duration::{format_duration, parse_duration};
use tenure_core::wire::{CLIENT_TIME_MAX_MS, CORES_MAX, RawGrantRequest, ReleaseRequest};

fn valid_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

fuzz_target!(|data: &[u8]| {
    let grant = RawGrantRequest::from_json(data).and_then(|r| r.validate());
    if let Ok(g) = &grant {
        let i = &g.instance;
        assert!(valid_name(i.environment.as_str()));
        assert!(valid_name(i.product.as_str()));
        assert!(valid_name(i.hostname.as_str()));
        assert_eq!(
            i.hostname.as_str(),
            i.hostname.as_str().to_ascii_lowercase()
        );
        assert!(i.port >= 1);
        assert!((1..=CORES_MAX).contains(&g.facts.cores));
        if let Some(t) = g.client_time {
            assert!((0..=CLIENT_TIME_MAX_MS).contains(&t.0));
        }
        let raw = g.to_raw();
        assert_eq!(raw.validate().as_ref(), Ok(g));
        let json = serde_json::to_vec(&raw).expect("serialises");
        let back = RawGrantRequest::from_json(&json).expect("own JSON parses");
        assert_eq!(back.validate().as_ref(), Ok(g));
    }
    let release = ReleaseRequest::from_json(data).and_then(|r| r.validate());
    if let Ok(g) = &grant {
        assert_eq!(
            release.as_ref(),
            Ok(&g.instance),
            "grant body valid, release body not"
        );
    }

    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = GrantId::parse(s) {
        let text = id.to_string();
        assert_eq!(text, s.to_ascii_lowercase());
        assert_eq!(GrantId::parse(&text), Ok(id));
    }
    if let Ok(d) = parse_duration(s) {
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
});
