//! RFC 3339 timestamps <-> `UnixMillis`.
//!
//! Licenses carry human-readable times; the core works in milliseconds. The
//! calendar (month lengths, leap years, days since the epoch) and the printing
//! are `jiff`'s. What stays here is the profile a license accepts, because it
//! is part of what is signed and must not move with a dependency: `jiff`'s
//! parser also takes ISO 8601 and Temporal spellings (a space separator, a
//! missing second, a bracketed zone, `+HHMM` or `+HH` offsets, six-digit signed
//! years, a comma before the fraction), reads a leap second `:60` as `:59` and
//! allows offsets up to 25:59. So [`parse`] checks the exact shape first and
//! hands `jiff` only the fixed-width date and time fields: one spelling per
//! instant, four-digit years, leap seconds refused rather than clamped.
//!
//! Instants go through `jiff::civil::DateTime` read as UTC, not through
//! `jiff::Timestamp`: a `Timestamp` ends at 9999-12-30T22:00:00.999999999Z so
//! that every offset still has a civil time, short of [`MAX`], and a
//! perpetual license's `9999-12-31T23:59:59Z` must still read. `jiff` is built
//! without `std`: it has no clock to read and no time zone database, which
//! keeps the core free of I/O. Years 0000 to 9999 of the proleptic Gregorian
//! calendar are supported, which is exactly what a four-digit year can express.

use crate::time::UnixMillis;
use jiff::SignedDuration;
use jiff::civil::{Date, DateTime, Time};
use std::fmt;

/// 0000-01-01T00:00:00Z.
pub const MIN: UnixMillis = UnixMillis(-62_167_219_200_000);
/// 9999-12-31T23:59:59.999Z.
pub const MAX: UnixMillis = UnixMillis(253_402_300_799_999);

const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rfc3339Error {
    #[error("{0:?} is not an RFC 3339 timestamp like 2027-12-31T00:00:00Z")]
    Syntax(String),
    #[error("{0:?} is not a date in the calendar")]
    BadDate(String),
    #[error("{0:?} has an hour, minute, second or offset out of range")]
    BadTime(String),
    #[error("{0} ms since the epoch is outside the years 0000 to 9999")]
    OutOfRange(i64),
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)`; `t` and `z` may be
/// lower case. Fractional digits beyond milliseconds are truncated, however
/// many there are (`jiff` stops at nine, so the fraction is read here). A leap
/// second (`:60`) is refused: nothing in a license needs one, and accepting it
/// would make two spellings of one instant.
pub fn parse(s: &str) -> Result<UnixMillis, Rfc3339Error> {
    let Profile {
        millis,
        offset_minutes,
    } = profile(s)?;
    let date: Date = s
        .get(..10)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| Rfc3339Error::BadDate(shorten(s)))?;
    let bad_time = || Rfc3339Error::BadTime(shorten(s));
    let hms = s.get(11..19).ok_or_else(bad_time)?;
    if hms.ends_with(":60") {
        return Err(bad_time());
    }
    let time: Time = hms.parse().map_err(|_| bad_time())?;

    let seconds = date.to_datetime(time).duration_since(EPOCH).as_secs();
    let utc = seconds * 1000 + millis - offset_minutes * 60_000;
    if !(MIN.0..=MAX.0).contains(&utc) {
        return Err(Rfc3339Error::OutOfRange(utc));
    }
    Ok(UnixMillis(utc))
}

/// What [`parse`] reads itself: the fraction and the offset, once the text
/// has the profile's shape.
struct Profile {
    millis: i64,
    offset_minutes: i64,
}

/// The profile's shape, checked byte by byte before `jiff` sees the text:
/// fixed-width digits at fixed places, so none of `jiff`'s wider ISO 8601
/// grammar can get through. An offset of 24 hours or more is `BadTime`, as
/// RFC 3339 bounds it and `jiff` does not.
fn profile(s: &str) -> Result<Profile, Rfc3339Error> {
    let syntax = || Rfc3339Error::Syntax(shorten(s));
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(syntax());
    }
    let fields_are_digits = [(0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2)]
        .iter()
        .all(|&(at, n)| digits(b, at, n).is_some());
    if !fields_are_digits
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(syntax());
    }

    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(c) = b.get(pos).filter(|c| c.is_ascii_digit()) {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
            pos += 1;
        }
        if pos == start {
            return Err(syntax());
        }
        for _ in (pos - start)..3 {
            millis *= 10;
        }
    }

    let offset_minutes = match b.get(pos..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let oh = digits(b, pos + 1, 2).ok_or_else(syntax)?;
            let om = digits(b, pos + 4, 2).ok_or_else(syntax)?;
            if oh > 23 || om > 59 {
                return Err(Rfc3339Error::BadTime(shorten(s)));
            }
            let minutes = oh * 60 + om;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return Err(syntax()),
    };
    Ok(Profile {
        millis,
        offset_minutes,
    })
}

/// Formats as `YYYY-MM-DDTHH:MM:SSZ`, adding `.mmm` only when the milliseconds
/// are not zero, so whole-second times read the way a vendor typed them.
pub fn format(t: UnixMillis) -> Result<String, Rfc3339Error> {
    let out_of_range = || Rfc3339Error::OutOfRange(t.0);
    if !(MIN.0..=MAX.0).contains(&t.0) {
        return Err(out_of_range());
    }
    let at = EPOCH
        .checked_add(SignedDuration::from_millis(t.0))
        .map_err(|_| out_of_range())?;
    // The precision is how many fraction digits `jiff` prints, zeros kept.
    Ok(if t.0.rem_euclid(1000) == 0 {
        format!("{at:.0}Z")
    } else {
        format!("{at:.3}Z")
    })
}

/// Shows a time in messages: RFC 3339 when it has one, raw milliseconds when not,
/// so an error about an absurd time can still be printed.
pub fn display(t: UnixMillis) -> impl fmt::Display {
    struct Show(UnixMillis);
    impl fmt::Display for Show {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match format(self.0) {
                Ok(s) => f.write_str(&s),
                Err(_) => write!(f, "{} ms since the epoch", self.0.0),
            }
        }
    }
    Show(t)
}

pub(crate) fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let slice = b.get(at..at.checked_add(n)?)?;
    slice.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Error messages echo the input; a hostile multi-megabyte string should not be
/// echoed whole into a log line.
fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `#[serde(with = "crate::rfc3339::serde_millis")]`: a `UnixMillis` as an RFC 3339
/// string on the wire.
pub mod serde_millis {
    use crate::time::UnixMillis;
    use serde::{Deserialize, Deserializer, Serializer, de, ser};

    pub fn serialize<S: Serializer>(t: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
        let text = super::format(*t).map_err(ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixMillis, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).0
    }

    #[test]
    fn known_instants() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ms("2000-01-01T00:00:00Z"), 946_684_800_000);
        assert_eq!(ms("2027-12-31T00:00:00Z"), 1_830_211_200_000);
        assert_eq!(ms("2038-01-19T03:14:07Z"), 2_147_483_647_000);
        assert_eq!(ms("0000-01-01T00:00:00Z"), MIN.0);
        assert_eq!(ms("9999-12-31T23:59:59.999Z"), MAX.0);
        assert_eq!(ms("1969-12-31T23:59:59Z"), -1000);
    }

    #[test]
    fn leap_years() {
        assert_eq!(
            ms("2024-02-29T00:00:00Z") + 86_400_000,
            ms("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            ms("2000-02-29T12:00:00Z") + 43_200_000,
            ms("2000-03-01T00:00:00Z")
        );
        assert!(matches!(
            parse("2023-02-29T00:00:00Z"),
            Err(Rfc3339Error::BadDate(_))
        ));
        assert!(matches!(
            parse("1900-02-29T00:00:00Z"),
            Err(Rfc3339Error::BadDate(_))
        ));
        assert!(matches!(
            parse("2100-02-29T00:00:00Z"),
            Err(Rfc3339Error::BadDate(_))
        ));
        assert_eq!(
            ms("2024-12-31T00:00:00Z") - ms("2024-01-01T00:00:00Z"),
            365 * 86_400_000
        );
    }

    #[test]
    fn fractions_offsets_and_case() {
        assert_eq!(
            ms("2027-12-31T00:00:00.5Z"),
            ms("2027-12-31T00:00:00Z") + 500
        );
        assert_eq!(
            ms("2027-12-31T00:00:00.123456789Z"),
            ms("2027-12-31T00:00:00Z") + 123
        );
        assert_eq!(ms("2027-12-31T01:30:00+01:30"), ms("2027-12-31T00:00:00Z"));
        assert_eq!(ms("2027-12-30T19:00:00-05:00"), ms("2027-12-31T00:00:00Z"));
        assert_eq!(ms("2027-12-31t00:00:00z"), ms("2027-12-31T00:00:00Z"));
        assert_eq!(ms("2027-12-31T00:00:00-00:00"), ms("2027-12-31T00:00:00Z"));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "garbage",
            "2027-02-30T00:00:00Z",
            "2027-04-31T00:00:00Z",
            "2027-00-10T00:00:00Z",
            "2027-13-10T00:00:00Z",
            "2027-12-00T00:00:00Z",
            "2027-12-31T24:00:00Z",
            "2027-12-31T23:60:00Z",
            "2027-12-31T23:59:60Z",
            "2027-12-31T00:00:00",
            "2027-12-31 00:00:00Z",
            "2027-12-31T00:00:00.Z",
            "2027-12-31T00:00:00ZZ",
            "2027-12-31T00:00:00+0100",
            "2027-12-31T00:00:00+24:00",
            "2027-12-31T00:00:00+01:60",
            "+2027-12-31T00:00:00Z",
            "27-12-31T00:00:00Z",
            "2027-1-31T00:00:00Z",
            "2027-12-31T00:00:00Z ",
            " 2027-12-31T00:00:00Z",
            "２０２７-12-31T00:00:00Z",
            "2027-12-31T00:00:00.1é",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            // What `jiff`'s own parser would take.
            "2027-12-31T00:00Z",
            "2027-12-31T00:00:00Z[UTC]",
            "2027-12-31T00:00:00,5Z",
            "2027-12-31T00:00:00+01",
            "2027-12-31T00:00:00+01:00:00",
            "+002027-12-31T00:00:00Z",
            "20271231T000000Z",
            "2027-12-31T00:00:00+25:00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn leap_seconds_are_refused_not_clamped() {
        assert!(matches!(
            parse("2016-12-31T23:59:60Z"),
            Err(Rfc3339Error::BadTime(_))
        ));
        assert!(matches!(
            parse("2027-12-31T00:00:00+24:00"),
            Err(Rfc3339Error::BadTime(_))
        ));
    }

    #[test]
    fn long_fractions_and_the_last_day_of_9999() {
        assert_eq!(
            ms("2027-12-31T00:00:00.1234567890123Z"),
            ms("2027-12-31T00:00:00Z") + 123
        );
        assert_eq!(ms("9999-12-31T23:59:59Z"), MAX.0 - 999);
        assert_eq!(ms("9999-12-31T23:59:59.999+01:00"), MAX.0 - 3_600_000);
        assert_eq!(
            format(UnixMillis(MAX.0 - 999)).as_deref(),
            Ok("9999-12-31T23:59:59Z")
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format(UnixMillis(0)).as_deref(), Ok("1970-01-01T00:00:00Z"));
        assert_eq!(
            format(UnixMillis(1_830_211_200_000)).as_deref(),
            Ok("2027-12-31T00:00:00Z")
        );
        assert_eq!(
            format(UnixMillis(1_830_211_200_007)).as_deref(),
            Ok("2027-12-31T00:00:00.007Z")
        );
        assert_eq!(
            format(UnixMillis(-1)).as_deref(),
            Ok("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(format(MIN).as_deref(), Ok("0000-01-01T00:00:00Z"));
        assert_eq!(format(MAX).as_deref(), Ok("9999-12-31T23:59:59.999Z"));
        assert!(matches!(
            format(UnixMillis(MAX.0 + 1)),
            Err(Rfc3339Error::OutOfRange(_))
        ));
        assert!(format(UnixMillis(i64::MIN)).is_err());
        assert_eq!(
            display(UnixMillis(i64::MAX)).to_string(),
            format!("{} ms since the epoch", i64::MAX)
        );
    }

    #[test]
    fn round_trips_every_day_and_samples() {
        // Every day of 1970..=2500 catches month-length and leap mistakes that a
        // few samples would miss.
        let mut day = 0;
        while day < 194_000 {
            let t = UnixMillis(day * 86_400_000 + 3_723_004);
            let text = format(t).expect("in range");
            assert_eq!(parse(&text), Ok(t), "{text}");
            day += 1;
        }
        for t in [
            MIN.0,
            MIN.0 + 1,
            -1,
            0,
            1,
            MAX.0 - 1,
            MAX.0,
            951_782_400_000,
        ] {
            let text = format(UnixMillis(t)).expect("in range");
            assert_eq!(parse(&text), Ok(UnixMillis(t)), "{text}");
        }
    }

    #[test]
    fn serde_round_trip() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "serde_millis")]
            at: UnixMillis,
        }
        let json = serde_json::to_string(&T {
            at: UnixMillis(1_830_211_200_000),
        })
        .expect("ser");
        assert_eq!(json, r#"{"at":"2027-12-31T00:00:00Z"}"#);
        let back: T = serde_json::from_str(&json).expect("de");
        assert_eq!(back.at, UnixMillis(1_830_211_200_000));
        assert!(serde_json::from_str::<T>(r#"{"at":"2027-02-30T00:00:00Z"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"at":0}"#).is_err());
        assert!(
            serde_json::to_string(&T {
                at: UnixMillis(i64::MAX)
            })
            .is_err()
        );
    }
}
