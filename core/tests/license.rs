//! The license format end to end: sign, armour, verify, and every way a license
//! file can be damaged, forged or out of date.

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tenure_core::UnixMillis;
use tenure_core::license::{
    KeyError, License, LicenseError, Limits, SecretKey, Validity, VerifyingKey, sign, sign_payload,
    verify, verify_at,
};
use tenure_core::names::Name;
use tenure_core::rfc3339;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn at(s: &str) -> UnixMillis {
    rfc3339::parse(s).expect("test timestamp")
}

fn name(s: &str) -> Name {
    Name::parse("test", s).expect("test name")
}

fn sample() -> License {
    let mut products = BTreeMap::new();
    products.insert(
        name("vdp"),
        Limits {
            max_servers: Some(4),
            max_cores_per_server: Some(16),
            max_total_cores: Some(48),
            extra: BTreeMap::new(),
        },
    );
    products.insert(name("scheduler"), Limits::default());
    let mut limits = BTreeMap::new();
    limits.insert(name("production"), products);
    License {
        license_id: "ACME-2027-001".to_owned(),
        licensee: "ACME Corp. (Zürich)".to_owned(),
        issued_at: at("2026-11-01T09:30:00Z"),
        not_before: at("2026-11-01T00:00:00Z"),
        not_after: at("2027-12-31T00:00:00Z"),
        max_managers: 2,
        grace_period_s: 432_000,
        limits,
        extra: BTreeMap::new(),
    }
}

/// Signed once: Ed25519 is slow in unoptimised test builds and the property
/// tests below need this text hundreds of times.
fn signed() -> String {
    static SIGNED: OnceLock<String> = OnceLock::new();
    SIGNED
        .get_or_init(|| sign(&sample(), &key(1)).expect("sample license signs"))
        .clone()
}

/// A payload written by hand, as a newer or a broken vendor tool might.
fn payload_with(limits: &str, top: &str) -> String {
    format!(
        r#"{{"license_id":"L-1","licensee":"ACME","issued_at":"2026-11-01T00:00:00Z",
        "not_before":"2026-11-01T00:00:00Z","not_after":"2027-12-31T00:00:00Z",
        {top} "limits":{limits}}}"#
    )
}

fn verify_payload(payload: &str) -> Result<License, LicenseError> {
    let text = sign_payload(payload.as_bytes(), &key(1));
    verify(&text, &[key(1).verifying_key()]).map(|v| v.into_license())
}

#[test]
fn sign_then_verify_round_trips() {
    let text = signed();
    let verified = verify(&text, &[key(1).verifying_key()]).expect("verifies");
    assert_eq!(verified.license(), &sample());
    assert_eq!(verified.key_id(), key(1).key_id());
    assert_eq!(verified.armoured(), text);
    assert_eq!(
        verified.payload_bytes(),
        sample().to_payload_bytes().expect("serialises")
    );
    assert!(
        std::str::from_utf8(verified.payload_bytes())
            .expect("utf-8")
            .contains("\n  \"license_id\": \"ACME-2027-001\"")
    );
}

#[test]
fn armour_layout_is_exact() {
    let text = signed();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "-----BEGIN TENURE LICENSE-----");
    assert_eq!(lines[1], format!("Key-Id: {}", key(1).key_id()));
    assert_eq!(lines[1].len(), "Key-Id: ".len() + 16);
    assert!(lines[2].starts_with("Signature: "));
    assert_eq!(lines[2].len(), "Signature: ".len() + 88);
    assert!(lines[2].ends_with("=="));
    assert_eq!(lines[3], "");
    let end = lines.len() - 2;
    assert_eq!(lines[end], "-----END TENURE LICENSE-----");
    assert_eq!(lines[end + 1], "", "the file ends with a line break");
    let body = &lines[4..end];
    assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
    assert!((1..=64).contains(&body[body.len() - 1].len()));
    assert!(!text.contains('\r'));
}

#[test]
fn every_single_byte_change_is_refused() {
    let text = signed();
    let trusted = [key(1).verifying_key()];
    let original = text.as_bytes();
    let mut checked = 0;
    for i in 0..original.len() {
        for replacement in [original[i] ^ 0x01, b' ', b'\r', b'\n', b'A', b'\t', 0x0b] {
            if replacement == original[i] {
                continue;
            }
            let mut bytes = original.to_vec();
            bytes[i] = replacement;
            // Invalid UTF-8 cannot reach `verify` at all; that is a refusal too.
            if let Ok(changed) = std::str::from_utf8(&bytes) {
                let result = verify(changed, &trusted);
                assert!(
                    result.is_err(),
                    "byte {i} changed from {:?} to {:?} still verifies",
                    original[i] as char,
                    replacement as char
                );
            }
            checked += 1;
        }
    }
    assert!(checked > original.len() * 5);
}

#[test]
fn untrusted_key_is_unknown() {
    let text = sign(&sample(), &key(2)).expect("signs");
    assert_eq!(
        verify(&text, &[key(1).verifying_key()]),
        Err(LicenseError::UnknownKey {
            key_id: key(2).key_id()
        })
    );
    assert!(matches!(
        verify(&text, &[]),
        Err(LicenseError::UnknownKey { .. })
    ));
}

#[test]
fn forged_signature_under_a_trusted_key_id_is_bad() {
    let trusted = key(1);
    let forged = sign(&sample(), &key(2))
        .expect("signs")
        .replace(&key(2).key_id().to_string(), &trusted.key_id().to_string());
    assert_eq!(
        verify(&forged, &[trusted.verifying_key()]),
        Err(LicenseError::BadSignature)
    );

    // A genuine signature moved onto another genuine payload.
    let mut other = sample();
    other.max_managers = 1;
    let a = signed();
    let b = sign(&other, &trusted).expect("signs");
    let sig_a = a.lines().nth(2).expect("signature line");
    let sig_b = b.lines().nth(2).expect("signature line");
    let spliced = b.replace(sig_b, sig_a);
    assert_eq!(
        verify(&spliced, &[trusted.verifying_key()]),
        Err(LicenseError::BadSignature)
    );

    // Signed without the domain prefix: a signature over the bare payload.
    let payload = sample().to_payload_bytes().expect("serialises");
    let bare = sign_payload(&payload, &trusted);
    let prefixed_sig = bare.lines().nth(2).expect("signature line").to_owned();
    let unprefixed = sign_payload(&[b"x".as_slice(), &payload].concat(), &trusted);
    assert_ne!(unprefixed.lines().nth(2), Some(prefixed_sig.as_str()));
}

#[test]
fn validity_window_is_distinguished() {
    let text = signed();
    let trusted = [key(1).verifying_key()];
    let license = sample();
    let before = UnixMillis(license.not_before.0 - 1);
    let after = UnixMillis(license.not_after.0 + 1);
    assert_eq!(
        verify_at(&text, &trusted, before),
        Err(LicenseError::NotYetValid {
            not_before: license.not_before
        })
    );
    assert_eq!(
        verify_at(&text, &trusted, after),
        Err(LicenseError::Expired {
            not_after: license.not_after
        })
    );
    for now in [
        license.not_before,
        at("2027-06-01T00:00:00Z"),
        UnixMillis(license.not_after.0 - 1),
    ] {
        assert!(verify_at(&text, &trusted, now).is_ok());
    }
    // At not_after itself the license has expired, as grants are denied (M7).
    assert_eq!(
        verify_at(&text, &trusted, license.not_after),
        Err(LicenseError::Expired {
            not_after: license.not_after
        })
    );
    assert_eq!(
        license.validity_at(after),
        Err(Validity::Expired {
            not_after: license.not_after
        })
    );
    assert_eq!(
        verify_at(&text, &trusted, after)
            .map(|_| ())
            .expect_err("expired")
            .to_string(),
        "license expired at 2027-12-31T00:00:00Z"
    );
    assert_eq!(
        LicenseError::NotYetValid {
            not_before: license.not_before
        }
        .to_string(),
        "license is not valid before 2026-11-01T00:00:00Z"
    );
}

#[test]
fn the_right_trusted_key_is_picked() {
    let trusted = [
        key(1).verifying_key(),
        key(2).verifying_key(),
        key(3).verifying_key(),
    ];
    for seed in [1, 2, 3] {
        let text = sign(&sample(), &key(seed)).expect("signs");
        let verified = verify(&text, &trusted).expect("verifies");
        assert_eq!(verified.key_id(), key(seed).key_id());
    }
}

#[test]
fn windows_line_endings_verify() {
    let text = signed();
    let crlf = text.replace('\n', "\r\n");
    let verified = verify(&crlf, &[key(1).verifying_key()]).expect("CRLF verifies");
    assert_eq!(verified.armoured(), text, "stored in the canonical form");
}

#[test]
fn text_pasted_around_the_block_is_ignored() {
    let text = signed();
    let trusted = [key(1).verifying_key()];
    let email = format!("Hello,\n\nyour license:\n\n{text}\nBest regards,\n-- \nThe vendor\n");
    let verified = verify(&email, &trusted).expect("verifies");
    assert_eq!(verified.armoured(), text);
    assert!(verify(&email.replace('\n', "\r\n"), &trusted).is_ok());

    // Text glued to a marker line, or an unterminated last line, is refused.
    assert!(verify(&format!("Hello{text}"), &trusted).is_err());
    assert!(verify(&format!("{text}Bye"), &trusted).is_err());
    assert!(verify(&format!("{text}\nBye"), &trusted).is_err());
    assert!(matches!(
        verify(text.trim_end(), &trusted),
        Err(LicenseError::BadArmour(_))
    ));
}

#[test]
fn unknown_fields_survive() {
    let payload = payload_with(
        r#"{"production":{"vdp":{"max_servers":4,"max_gpus":2}}}"#,
        r#""support_tier":{"level":"gold","hours":[8,18]},"#,
    );
    let license = verify_payload(&payload).expect("newer payload verifies");
    assert_eq!(license.extra["support_tier"]["level"], "gold");
    let limits = &license.limits[&name("production")][&name("vdp")];
    assert_eq!(limits.max_servers, Some(4));
    assert_eq!(limits.extra["max_gpus"], 2);

    let reserialised =
        String::from_utf8(license.to_payload_bytes().expect("serialises")).expect("utf-8");
    assert!(reserialised.contains("\"support_tier\""));
    assert!(reserialised.contains("\"max_gpus\": 2"));
    let resigned = sign(&license, &key(1)).expect("signs");
    let again = verify(&resigned, &[key(1).verifying_key()]).expect("verifies");
    assert_eq!(again.license(), &license);
}

#[test]
fn malformed_limits_are_reported_as_limits() {
    for limits in [
        r#"{"production":{"vdp":{"max_servers":0}}}"#,
        r#"{"production":{"vdp":{"max_total_cores":0}}}"#,
        r#"{"production":{"vdp":{"max_servers":-1}}}"#,
        r#"{"production":{"vdp":{"max_servers":"4"}}}"#,
        r#"{"prod uction":{"vdp":{}}}"#,
        r#"{"production":{"":{}}}"#,
        r#"{"production":{"vdp/x":{}}}"#,
        r#"{"production":{}}"#,
        r#"{}"#,
        r#"[]"#,
    ] {
        let result = verify_payload(&payload_with(limits, ""));
        assert!(
            matches!(result, Err(LicenseError::MalformedLimits(_))),
            "{limits}: {result:?}"
        );
    }
}

#[test]
fn malformed_payloads_are_reported() {
    for top in [
        r#""max_managers":3,"#,
        r#""max_managers":0,"#,
        r#""grace_period_s":0,"#,
        r#""grace_period_s":31536001,"#,
        r#""unknown":1,"unknown":2,"#,
        r#""licensee":"again","#,
    ] {
        let result = verify_payload(&payload_with(r#"{"production":{"vdp":{}}}"#, top));
        assert!(
            matches!(result, Err(LicenseError::Malformed(_))),
            "{top}: {result:?}"
        );
    }
    assert!(
        verify_payload(&payload_with(
            r#"{"p":{"v":{}}}"#,
            r#""grace_period_s":31536000,"#
        ))
        .is_ok()
    );

    let good = payload_with(r#"{"p":{"v":{}}}"#, "");
    for (from, to) in [
        (r#""L-1""#, r#""L 1""#),
        (r#""L-1""#, r#""""#),
        (r#""ACME""#, r#""AC\u0007ME""#),
        (r#""ACME""#, r#""""#),
        ("2027-12-31T00:00:00Z", "2026-10-31T00:00:00Z"),
        ("2027-12-31T00:00:00Z", "2027-02-30T00:00:00Z"),
        ("2027-12-31T00:00:00Z", "2027-12-31"),
        (r#""issued_at""#, r#""issued""#),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good);
        let result = verify_payload(&bad);
        assert!(
            matches!(result, Err(LicenseError::Malformed(_))),
            "{to}: {result:?}"
        );
    }
    for payload in [
        "",
        "null",
        "[1]",
        "{",
        "not json",
        "{\"limits\": {\"p\": {\"v\": {}}}}",
    ] {
        assert!(
            matches!(verify_payload(payload), Err(LicenseError::Malformed(_))),
            "{payload}"
        );
    }
}

#[test]
fn sign_refuses_invalid_licenses() {
    let mut bad = sample();
    bad.max_managers = 3;
    assert!(matches!(
        sign(&bad, &key(1)),
        Err(LicenseError::Malformed(_))
    ));

    let mut zero = sample();
    zero.limits
        .values_mut()
        .flat_map(|p| p.values_mut())
        .for_each(|l| l.max_servers = Some(0));
    assert!(matches!(
        sign(&zero, &key(1)),
        Err(LicenseError::MalformedLimits(_))
    ));

    let mut shadow = sample();
    shadow
        .extra
        .insert("licensee".to_owned(), serde_json::json!("someone else"));
    assert!(matches!(
        sign(&shadow, &key(1)),
        Err(LicenseError::Malformed(_))
    ));

    let mut far = sample();
    far.not_after = UnixMillis(i64::MAX);
    assert!(matches!(
        sign(&far, &key(1)),
        Err(LicenseError::Malformed(_))
    ));
}

#[test]
fn error_messages_are_one_line() {
    let trusted = [key(1).verifying_key()];
    let text = signed();
    let errors = [
        verify("", &trusted),
        verify(&text.replacen("Key-Id", "Key-ID", 1), &trusted),
        verify(&text.replacen("==", "=", 1), &trusted),
        verify(
            &text.replace(&key(1).key_id().to_string(), "0123456789abcdef"),
            &trusted,
        ),
        verify(&text, &[key(2).verifying_key()]),
        verify_payload(&payload_with("{}", "")).map(|_| unreachable_ok()),
        verify_payload("{}").map(|_| unreachable_ok()),
        verify_at(&text, &trusted, UnixMillis(i64::MAX)),
    ];
    for e in errors {
        let message = e.expect_err("refused").to_string();
        assert!(
            !message.contains('\n') && !message.is_empty(),
            "{message:?}"
        );
    }
}

/// Lets a `Result<License, _>` join the list above as a `Result<VerifiedLicense, _>`.
fn unreachable_ok() -> tenure_core::license::VerifiedLicense {
    verify(&signed(), &[key(1).verifying_key()]).expect("verifies")
}

#[test]
fn key_files_round_trip_and_refuse_damage() {
    let secret = key(5);
    let secret_text = secret.to_armoured();
    let public_text = secret.verifying_key().to_armoured();
    let back = SecretKey::from_armoured(&secret_text).expect("secret parses");
    assert_eq!(back.verifying_key(), secret.verifying_key());
    assert_eq!(
        VerifyingKey::from_armoured(&public_text),
        Ok(secret.verifying_key())
    );
    assert!(matches!(
        VerifyingKey::from_armoured(&public_text.replace("PUBLIC", "SECRET")),
        Err(KeyError::BadArmour(_))
    ));
    // A license signed by the reloaded key verifies under the reloaded public key.
    let text = sign(&sample(), &back).expect("signs");
    let public = VerifyingKey::from_armoured(&public_text).expect("parses");
    assert!(verify(&text, &[public]).is_ok());
}

/// A mutation of a license file: overwrite, insert or delete one byte.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match *edit {
        Edit::Set(i, b) => {
            let i = i % bytes.len();
            bytes[i] = b;
        }
        Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Edit::Delete(i) => {
            bytes.remove(i % bytes.len());
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        any::<u8>(),
        Just(b'\n'),
        Just(b'\r'),
        Just(b' '),
        Just(b'='),
        Just(b'-'),
        Just(b'A')
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        let trusted = [key(1).verifying_key()];
        prop_assert!(verify(&text, &trusted).is_err());
        let _ = VerifyingKey::from_armoured(&text);
        let _ = SecretKey::from_armoured(&text);
        let _ = rfc3339::parse(&text);
        let _ = License::from_payload_bytes(&bytes);
    }

    #[test]
    fn mutated_licenses_never_panic_nor_change_meaning(
        edits in proptest::collection::vec(edit(), 1..8)
    ) {
        let original = signed();
        let mut bytes = original.clone().into_bytes();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let text = String::from_utf8_lossy(&bytes);
        // Some edits are harmless (a `\r` before a line break, a blank line
        // after the block); none may change what the license says.
        if let Ok(verified) = verify(&text, &[key(1).verifying_key()]) {
            prop_assert_eq!(verified.license(), &sample());
            prop_assert_eq!(verified.armoured(), original.as_str());
        }
    }

}

proptest! {
    // Each case verifies a signature, which is slow in unoptimised builds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn armoured_block_after_random_prefix_lines_verifies(prefix in "[ -~]{0,40}") {
        let text = format!("{prefix}\n{}", signed());
        prop_assert!(verify(&text, &[key(1).verifying_key()]).is_ok());
    }

    #[test]
    fn rfc3339_round_trips(ms in rfc3339::MIN.0..=rfc3339::MAX.0) {
        let text = rfc3339::format(UnixMillis(ms)).expect("in range");
        prop_assert_eq!(rfc3339::parse(&text), Ok(UnixMillis(ms)));
        prop_assert_eq!(text.ends_with('Z'), true);
    }
}
