//! Time as data. The core never reads a clock: callers pass these values in.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Milliseconds since the Unix epoch, read from some clock (a component's wall
/// clock, or the storage clock on a manager). Signed so that a badly skewed clock
/// stays representable and subtraction never wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_ms(d)))
    }

    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_ms(d)))
    }

    /// `self - earlier` in milliseconds; negative when `earlier` is later.
    pub fn millis_since(self, earlier: UnixMillis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds from `self` until `later`, rounded down, never negative.
    pub fn secs_until(self, later: UnixMillis) -> u64 {
        u64::try_from(later.0.saturating_sub(self.0).max(0) / 1000).unwrap_or(0)
    }
}

/// A duration in whole milliseconds as i64, saturating for absurd values.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What a component host's clocks say at one instant (T2).
///
/// `mono` is a monotonic reading from an arbitrary origin: it never goes back,
/// and it should count time the host spends suspended (CLOCK_BOOTTIME, not
/// CLOCK_MONOTONIC, on Linux; Tenure's drivers add the suspended time). A
/// reading that stops in suspend leaves T2 only the wall clock to see it,
/// which fails once the wall clock was also set back. `wall` is the wall
/// clock: it keeps counting through a suspend but can be set back or forward
/// by anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Duration,
    pub wall: UnixMillis,
}

impl Now {
    pub const fn new(mono: Duration, wall: UnixMillis) -> Self {
        Self { mono, wall }
    }

    /// Elapsed time since `earlier` by T2: the larger of the monotonic and the
    /// wall-clock elapsed time. A wall clock set back cannot lengthen it; a
    /// suspend (monotonic stopped, wall running) is still counted.
    pub fn elapsed_since(&self, earlier: &Now) -> Duration {
        duration_from_nanos(self.elapsed_nanos_since(earlier))
    }

    /// [`Now::elapsed_since`] in nanoseconds: exact (no `Duration` or
    /// millisecond count overflows a `u128` of nanoseconds), and a few
    /// instructions where the agent compares deadlines on every call.
    pub fn elapsed_nanos_since(&self, earlier: &Now) -> u128 {
        self.mono_nanos_since(earlier)
            .max(self.wall_nanos_since(earlier))
    }

    /// The monotonic term of T2 alone, in nanoseconds (zero if it went back).
    pub fn mono_nanos_since(&self, earlier: &Now) -> u128 {
        self.mono.as_nanos().saturating_sub(earlier.mono.as_nanos())
    }

    /// The wall-clock term of T2 alone, in nanoseconds (zero when the wall
    /// clock reads earlier than `earlier`'s).
    pub fn wall_nanos_since(&self, earlier: &Now) -> u128 {
        let wall_ms = u64::try_from(self.wall.millis_since(earlier.wall)).unwrap_or(0);
        u128::from(wall_ms) * 1_000_000
    }
}

/// Nanoseconds as a `Duration`, saturating at `Duration::MAX`.
pub fn duration_from_nanos(ns: u128) -> Duration {
    if let Ok(n) = u64::try_from(ns) {
        return Duration::from_nanos(n);
    }
    match u64::try_from(ns / 1_000_000_000) {
        // The remainder is below 10^9: it fits.
        Ok(secs) => Duration::new(secs, (ns % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}
