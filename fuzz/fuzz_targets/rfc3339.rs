//! RFC 3339 timestamps (license times, `GET /v1/usage?since=`) and the human
//! durations of the command line.
//!
//! Asserts: no panic; a parsed time is within years 0000-9999, formats, and the
//! formatted text parses to the same instant; a parsed duration formats to a
//! text that parses to the same duration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenure_core::duration::{format_duration, parse_duration};
use tenure_core::rfc3339;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = rfc3339::parse(s) {
        assert!(rfc3339::MIN <= t && t <= rfc3339::MAX, "{s:?} -> {t:?}");
        let text = rfc3339::format(t).expect("an in-range time formats");
        assert_eq!(rfc3339::parse(&text), Ok(t), "{s:?} -> {text:?}");
    }
    if let Ok(d) = parse_duration(s) {
        let text = format_duration(d);
        assert_eq!(parse_duration(&text), Ok(d), "{s:?} -> {text:?}");
    }
});
