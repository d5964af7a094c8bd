//! Human durations for every command line: `500ms`, `30s`, `5m`, `2h`, `5d`.
//!
//! Kept by hand rather than taken from `humantime` or `jiff`: the grammar is
//! one number and one unit, with no bare numbers, fractions, signs, sums,
//! months or years, so an operator's `--renew-every` or a config file means one
//! thing. `humantime` reads `1M` as a month and `1m 30s` as a sum; `jiff`'s
//! friendly format reads `1.5s`, `-5s` and `1m 30s`, refuses days in an exact
//! duration and caps them at 7,304,484 in a `Span`, where this reads any day
//! count whose milliseconds fit a `u64`. Either would need a check in front
//! that is this whole parser. And [`format_duration`] prints the spelling the
//! parser reads back, which neither crate's formatter does (`5days`, `120h`,
//! `1m 30s`).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; expected e.g. 500ms, 30s, 5m, 2h or 5d")]
    Empty,
    #[error("duration {0:?} has no number; expected e.g. 500ms, 30s, 5m, 2h or 5d")]
    NoNumber(String),
    #[error("duration {0:?} has an unknown unit; use ms, s, m, h or d")]
    UnknownUnit(String),
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}

/// Parses `<digits><unit>` where unit is `ms`, `s`, `m`, `h` or `d`. A bare
/// number is refused rather than guessed at: `300` could mean seconds or ms.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::NoNumber(text.to_owned()));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| DurationError::TooLarge(text.to_owned()))?;
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError::UnknownUnit(text.to_owned())),
    };
    let ms = n
        .checked_mul(ms_per_unit)
        .ok_or_else(|| DurationError::TooLarge(text.to_owned()))?;
    Ok(Duration::from_millis(ms))
}

/// The shortest exact spelling of `d` that [`parse_duration`] reads back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(432_000)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::NoNumber(_))
        ));
        assert!(matches!(
            parse_duration("300"),
            Err(DurationError::UnknownUnit(_))
        ));
        assert!(matches!(
            parse_duration("5w"),
            Err(DurationError::UnknownUnit(_))
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::NoNumber(_))
        ));
        assert!(matches!(
            parse_duration("1.5s"),
            Err(DurationError::UnknownUnit(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
    }

    #[test]
    fn format_round_trips() {
        for ms in [
            0u64,
            1,
            999,
            1000,
            1500,
            60_000,
            90_000,
            3_600_000,
            432_000_000,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}");
        }
        assert_eq!(format_duration(Duration::from_secs(432_000)), "5d");
    }
}
