//! The `Retry-After` header as the agent's drivers read it, in one place so
//! every driver hands the core the same value for the same bytes.

use std::time::Duration;

/// The longest pause a header can ask for here: the manager writes a `u32`
/// (section 6). Larger values saturate to it rather than being refused, since
/// the sender plainly meant "a long time"; the agent clamps further anyway.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(u32::MAX as u64);

/// Reads a `Retry-After` value in the delta-seconds form (`1`, `120`),
/// allowing the optional whitespace HTTP permits around a field value.
///
/// The HTTP-date form (`Wed, 21 Oct 2015 07:28:00 GMT`) gives `None`: turning
/// it into a pause needs the wall clock, whose steps the agent's timing is
/// built to ignore (T2), and the manager never sends it. Anything else that
/// is not only ASCII digits (signs, fractions, garbage, empty) is `None` too.
pub fn parse_retry_after(value: &[u8]) -> Option<Duration> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturating as it goes: a header of any length costs one pass and no
    // allocation, and cannot overflow.
    let secs = digits.iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(d - b'0'))
            .min(MAX_RETRY_AFTER.as_secs())
    });
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds_are_read() {
        let s = Duration::from_secs;
        assert_eq!(parse_retry_after(b"1"), Some(s(1)));
        assert_eq!(parse_retry_after(b"0"), Some(s(0)));
        assert_eq!(parse_retry_after(b"120"), Some(s(120)));
        assert_eq!(parse_retry_after(b"007"), Some(s(7)));
        assert_eq!(parse_retry_after(b" \t10 "), Some(s(10)));
    }

    #[test]
    fn too_large_saturates() {
        assert_eq!(parse_retry_after(b"4294967295"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after(b"4294967296"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        let long = vec![b'9'; 100_000];
        assert_eq!(parse_retry_after(&long), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn dates_and_garbage_are_none() {
        for v in [
            &b"Wed, 21 Oct 2015 07:28:00 GMT"[..],
            b"",
            b"   ",
            b"-1",
            b"+1",
            b"1.5",
            b"1 2",
            b"1s",
            b"0x10",
            b"\xff\xfe",
            "١".as_bytes(),
        ] {
            assert_eq!(parse_retry_after(v), None, "{v:?}");
        }
    }
}
