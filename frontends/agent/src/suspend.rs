//! How long the host has been suspended, for the driver's monotonic reading
//! (T2).
//!
//! `std::time::Instant` is CLOCK_MONOTONIC on Linux, which stops while the
//! host is suspended. T2 then counts a suspend only through the wall clock,
//! and a host whose wall clock was also set back after its last success
//! would run past its grace deadline by the shorter of the two (the
//! simulator found it: `tenure-sim run --scenario swarm --seed 813` before
//! the drivers used this). The driver adds the time measured here, the lead
//! CLOCK_BOOTTIME (which counts suspend) has taken over CLOCK_MONOTONIC since
//! the meter started, to its monotonic reading (see [`crate::Clock`]).
//!
//! Elsewhere than Linux the meter reads zero: the monotonic reading is then
//! the platform's `Instant`, as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct SuspendMeter {
    mono0: Instant,
    boot0: Option<Duration>,
    /// The largest lead seen, in nanoseconds: the reading never goes back.
    seen_ns: AtomicU64,
}

impl Default for SuspendMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl SuspendMeter {
    pub fn new() -> Self {
        // The boot-time origin is read after the monotonic one, and at every
        // reading before it: read-out jitter can only make the lead smaller.
        let mono0 = Instant::now();
        Self {
            mono0,
            boot0: boottime(),
            seen_ns: AtomicU64::new(0),
        }
    }

    /// Time spent suspended since `new`; never decreases.
    pub fn suspended(&self) -> Duration {
        let (Some(b0), Some(b)) = (self.boot0, boottime()) else {
            return Duration::from_nanos(self.seen_ns.load(Ordering::Relaxed));
        };
        let mono = self.mono0.elapsed();
        let lead = b.saturating_sub(b0).saturating_sub(mono);
        let ns = u64::try_from(lead.as_nanos()).unwrap_or(u64::MAX);
        let before = self.seen_ns.fetch_max(ns, Ordering::Relaxed);
        Duration::from_nanos(before.max(ns))
    }

    /// The core's monotonic reading after `awake` of the driver's own
    /// monotonic time since its start: the suspended time counts too.
    pub fn mono(&self, awake: Duration) -> Duration {
        mono_of(awake, self.suspended())
    }

    /// How much awake time after its start (what the driver's timers count)
    /// the core's monotonic reading reaches `mono`.
    pub fn awake_at(&self, mono: Duration) -> Duration {
        awake_of(mono, self.suspended())
    }
}

fn mono_of(awake: Duration, suspended: Duration) -> Duration {
    awake.saturating_add(suspended)
}

fn awake_of(mono: Duration, suspended: Duration) -> Duration {
    mono.saturating_sub(suspended)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn boottime() -> Option<Duration> {
    use nix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let secs = u64::try_from(ts.tv_sec()).ok()?;
    let nanos = u32::try_from(ts.tv_nsec()).ok()?;
    Some(Duration::new(secs, nanos))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn boottime() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_host_has_not_been_suspended() {
        let m = SuspendMeter::new();
        let mut last = Duration::ZERO;
        for _ in 0..1000 {
            let s = m.suspended();
            assert!(s >= last, "the reading went back: {s:?} < {last:?}");
            last = s;
        }
        // Only read-out jitter, never a suspend, on a test machine.
        assert!(last < Duration::from_millis(50), "{last:?}");
    }

    #[test]
    fn suspended_time_counts_in_the_reading_and_not_in_timers() {
        let (awake, asleep) = (Duration::from_secs(90), Duration::from_secs(3600));
        let mono = mono_of(awake, asleep);
        assert_eq!(mono, Duration::from_secs(3690));
        assert_eq!(awake_of(mono, asleep), awake);
        // A deadline the suspend already passed is due at once.
        assert_eq!(awake_of(Duration::from_secs(60), asleep), Duration::ZERO);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn boot_time_is_read_on_linux() {
        assert!(boottime().is_some());
    }
}
