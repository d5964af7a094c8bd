//! License text and key files as they arrive from a file or `PUT /v1/license`:
//! arbitrary text through the armour, key id, signature and payload checks.
//!
//! Asserts: no panic; a license that verifies re-verifies from its normalised
//! armour to the same license, payload and key; what verifies is valid and
//! round-trips through its payload bytes; a key file that parses writes back to
//! a text that parses to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tenure_core::license::{License, SecretKey, VerifyingKey, verify};

fn trusted() -> &'static [VerifyingKey; 2] {
    static KEYS: OnceLock<[VerifyingKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SecretKey::from_seed([9; 32]).verifying_key(),
            SecretKey::from_seed([7; 32]).verifying_key(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = verify(text, trusted()) {
        let again = verify(v.armoured(), trusted()).expect("the normalised armour verifies");
        assert_eq!(again.license(), v.license());
        assert_eq!(again.payload_bytes(), v.payload_bytes());
        assert_eq!(again.key_id(), v.key_id());
        v.license().validate().expect("a verified license is valid");
        let bytes = v.license().to_payload_bytes().expect("serialises");
        assert_eq!(
            &License::from_payload_bytes(&bytes).expect("re-parses"),
            v.license()
        );
    }
    if let Ok(k) = VerifyingKey::from_armoured(text) {
        assert_eq!(VerifyingKey::from_armoured(&k.to_armoured()), Ok(k));
    }
    if let Ok(s) = SecretKey::from_armoured(text) {
        let back = SecretKey::from_armoured(&s.to_armoured()).expect("re-parses");
        assert_eq!(back.verifying_key(), s.verifying_key());
    }
});
