//! License payload bytes (the JSON inside the armour), as if signed by a trusted
//! vendor key: the part of `verify` that only signed input reaches.
//!
//! Asserts: no panic; a payload that parses is valid, re-serialises to bytes
//! that parse to the same license, and, signed with a trusted key, verifies to
//! the same license with its exact bytes; a payload that does not parse is
//! refused by `verify` even when correctly signed.
//!
//! Known finding (reported, not fixed here): a float in an unknown field may
//! change in its last bit when the license is re-serialised, because
//! serde_json parses floats without `float_roundtrip`. Comparisons after a
//! re-serialisation therefore allow floats to differ by a few ulps; the
//! comparison of the exact signed bytes stays strict. Reproducer:
//! fuzz/corpus/license_payload/float_extra_roundtrip.json.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tenure_core::license::{License, SecretKey, VerifyingKey, sign, sign_payload, verify};

fn key() -> &'static (SecretKey, [VerifyingKey; 1]) {
    static KEY: OnceLock<(SecretKey, [VerifyingKey; 1])> = OnceLock::new();
    KEY.get_or_init(|| {
        let k = SecretKey::from_seed([9; 32]);
        let v = k.verifying_key();
        (k, [v])
    })
}

/// Equal, except that floats (only possible in unknown fields) may differ by
/// a few ulps.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 8.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn same_license(a: &License, b: &License) -> bool {
    let json = |l: &License| serde_json::to_value(l).expect("serialises");
    same(&json(a), &json(b))
}

fuzz_target!(|data: &[u8]| {
    let (secret, trusted) = key();
    match License::from_payload_bytes(data) {
        Ok(lic) => {
            lic.validate().expect("a parsed license is valid");
            let bytes = lic.to_payload_bytes().expect("serialises");
            let back = License::from_payload_bytes(&bytes).expect("its own bytes parse");
            assert!(same_license(&back, &lic), "{back:?} != {lic:?}");
            let text = sign_payload(data, secret);
            let v = verify(&text, trusted).expect("a signed valid payload verifies");
            assert_eq!(v.license(), &lic);
            assert_eq!(v.payload_bytes(), data);
            let resigned = sign(&lic, secret).expect("a valid license signs");
            let again = verify(&resigned, trusted).expect("verifies");
            assert!(same_license(again.license(), &lic));
        }
        Err(_) => {
            // Signing costs ~50 us; only do it for a sample so the target
            // keeps its speed, picked by the input so runs reproduce.
            if data.len() % 16 == 0 {
                let text = sign_payload(data, secret);
                assert!(
                    verify(&text, trusted).is_err(),
                    "an invalid payload verified"
                );
            }
        }
    }
});
