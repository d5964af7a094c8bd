//! License payload bytes (the JSON inside the armour), as if signed by a trusted
//! vendor key: the part of `verify` that only signed input reaches.
//!
//! Asserts: no panic; a payload that parses is valid, re-serialises to bytes
//! that parse to the same license, and, signed with a trusted key, verifies to
//! the same license with its exact bytes; a payload that does not parse is
//! refused by `verify` even when correctly signed.
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

fuzz_target!(|data: &[u8]| {
    let (secret, trusted) = key();
    match License::from_payload_bytes(data) {
        Ok(lic) => {
            lic.validate().expect("a parsed license is valid");
            let bytes = lic.to_payload_bytes().expect("serialises");
            let back = License::from_payload_bytes(&bytes).expect("its own bytes parse");
            assert_eq!(back, lic);
            let text = sign_payload(data, secret);
            let v = verify(&text, trusted).expect("a signed valid payload verifies");
            assert_eq!(v.license(), &lic);
            assert_eq!(v.payload_bytes(), data);
            let resigned = sign(&lic, secret).expect("a valid license signs");
            assert_eq!(verify(&resigned, trusted).expect("verifies").license(), &lic);
        }
        Err(_) => {
            // Signing costs ~50 us; only do it for a sample so the target
            // keeps its speed, picked by the input so runs reproduce.
            if data.len() % 16 == 0 {
                let text = sign_payload(data, secret);
                assert!(verify(&text, trusted).is_err(), "an invalid payload verified");
            }
        }
    }
});
