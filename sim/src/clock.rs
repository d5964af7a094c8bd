//! A host's clocks as functions of true simulated time (ms): an offset, a rate
//! error in ppm, steps of the wall clock, and suspend (the host runs nothing;
//! the wall clock runs on), like TigerBeetle's `TimeSim`.
//!
//! The monotonic reading is what Tenure's agent driver hands the core: the
//! host's monotonic clock plus the time it spent suspended
//! (`tenure_agent::suspend`), so it runs on through a suspend too. A
//! driver that handed the bare CLOCK_MONOTONIC, frozen in suspend, is
//! modelled by `freeze_mono_in_suspend`: T2 cannot see a suspend on such a
//! host once its wall clock was set back.

use std::time::Duration;
use tenure_core::{Now, UnixMillis};

const PPM: i128 = 1_000_000;

#[derive(Debug, Clone)]
pub struct HostClock {
    base_true: u64,
    base_mono_ns: u64,
    base_wall_ms: i64,
    /// Rate error of both clocks (they share one oscillator).
    ppm: i64,
    suspended: bool,
    /// A VM pause: the monotonic reading stops (CLOCK_BOOTTIME too).
    paused: bool,
    /// The monotonic reading stops while suspended (a driver that reads
    /// bare CLOCK_MONOTONIC; not Tenure's).
    pub freeze_mono_in_suspend: bool,
    /// Planted bug 2: the driver hands the agent a "monotonic" reading derived
    /// from the wall clock, so grace is measured on the wall clock only.
    wall_only: bool,
    wall_origin: i64,
    /// Planted bug: the driver hands the agent a wall reading that follows
    /// its monotonic clock, so T2's wall-clock term sees nothing.
    mono_only: bool,
    mono_wall_origin: i64,
    /// Counts every change of the clocks other than time passing: a step,
    /// suspend, pause, resume or change of mode. Between two changes both
    /// readings run at one rate from one base, so the wall clock's move less
    /// the monotonic clock's is only rounding (`epoch`).
    epoch: u32,
    /// No rate error, not suspended, no planted mode: the fast paths
    /// apply. Set again whenever one of those fields changes (`replan`).
    plain: bool,
}

impl HostClock {
    /// A clock whose wall reads `wall_at_start` at true time `t` and whose
    /// monotonic reading starts at `mono_start`.
    pub fn new(t: u64, wall_at_start: i64, mono_start: Duration, ppm: i64) -> Self {
        Self {
            base_true: t,
            base_mono_ns: u64::try_from(mono_start.as_nanos()).unwrap_or(0),
            base_wall_ms: wall_at_start,
            ppm,
            suspended: false,
            paused: false,
            freeze_mono_in_suspend: false,
            wall_only: false,
            wall_origin: wall_at_start - 1_000_000,
            mono_only: false,
            mono_wall_origin: wall_at_start
                - i64::try_from(mono_start.as_millis()).unwrap_or(i64::MAX),
            epoch: 0,
            plain: false,
        }
        .replanned()
    }

    fn replanned(mut self) -> Self {
        self.replan();
        self
    }

    fn replan(&mut self) {
        self.plain = self.ppm == 0 && !self.suspended && !self.wall_only && !self.mono_only;
    }

    /// The rate error of both clocks, in parts per million.
    pub fn ppm(&self) -> i64 {
        self.ppm
    }

    pub fn set_wall_only(&mut self, on: bool) {
        self.wall_only = on;
        self.epoch = self.epoch.wrapping_add(1);
        self.replan();
    }

    pub fn set_mono_only(&mut self, on: bool) {
        self.mono_only = on;
        self.epoch = self.epoch.wrapping_add(1);
        self.replan();
    }

    /// Which stretch of steady running the clocks are in: readings taken
    /// within one differ, wall against monotonic, by at most 1 ms of
    /// rounding (each is a floor of the same elapsed time at the same rate).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn rate(&self) -> i128 {
        PPM + i128::from(self.ppm)
    }

    /// The rate as a `u64`, when positive (always, for any sane ppm): the
    /// fast paths below use 64-bit arithmetic and fall back to `i128` on
    /// overflow, with the same results.
    fn rate_u64(&self) -> Option<u64> {
        u64::try_from(1_000_000 + self.ppm).ok().filter(|r| *r > 0)
    }

    fn elapsed_true(&self, t: u64) -> i128 {
        i128::from(t.saturating_sub(self.base_true))
    }

    pub fn mono_ns(&self, t: u64) -> u64 {
        if self.suspended && (self.freeze_mono_in_suspend || self.paused) {
            return self.base_mono_ns;
        }
        if self.ppm == 0 {
            return self
                .base_mono_ns
                .saturating_add(t.saturating_sub(self.base_true).saturating_mul(1_000_000));
        }
        if let Some(add) = self
            .rate_u64()
            .and_then(|r| t.saturating_sub(self.base_true).checked_mul(r))
        {
            return self.base_mono_ns.saturating_add(add);
        }
        let add = self.elapsed_true(t) * self.rate();
        self.base_mono_ns
            .saturating_add(u64::try_from(add.max(0)).unwrap_or(u64::MAX))
    }

    pub fn wall_ms(&self, t: u64) -> i64 {
        if self.ppm == 0 {
            let d = i64::try_from(t.saturating_sub(self.base_true)).unwrap_or(i64::MAX);
            return self.base_wall_ms.saturating_add(d);
        }
        if let Some(add) = self
            .rate_u64()
            .and_then(|r| t.saturating_sub(self.base_true).checked_mul(r))
        {
            let add = i64::try_from(add / 1_000_000).unwrap_or(i64::MAX);
            return self.base_wall_ms.saturating_add(add);
        }
        let add = self.elapsed_true(t) * self.rate() / PPM;
        self.base_wall_ms
            .saturating_add(i64::try_from(add).unwrap_or(i64::MAX))
    }

    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// A running clock with no rate error and no planted mode: both
    /// readings are the base plus true time, which the fast paths below
    /// compute without the general arithmetic (and give the same values).
    fn plain(&self) -> bool {
        self.plain
    }

    /// What the driver hands the agent at true time `t`. Inlined with its
    /// fast path: the simulator reads a clock around every agent call.
    #[inline]
    pub fn now(&self, t: u64) -> Now {
        if self.plain() {
            let d = t.saturating_sub(self.base_true);
            let wall = self
                .base_wall_ms
                .saturating_add(i64::try_from(d).unwrap_or(i64::MAX));
            let mono = self
                .base_mono_ns
                .saturating_add(d.saturating_mul(1_000_000));
            return Now::new(Duration::from_nanos(mono), UnixMillis(wall));
        }
        self.now_general(t)
    }

    #[inline(never)]
    fn now_general(&self, t: u64) -> Now {
        let wall = if self.mono_only {
            let ms = i64::try_from(self.mono_ns(t) / 1_000_000).unwrap_or(i64::MAX);
            self.mono_wall_origin.saturating_add(ms)
        } else {
            self.wall_ms(t)
        };
        let mono = if self.wall_only {
            Duration::from_millis(u64::try_from(wall - self.wall_origin).unwrap_or(0))
        } else {
            Duration::from_nanos(self.mono_ns(t))
        };
        Now::new(mono, UnixMillis(wall))
    }

    /// `now(t).mono` in nanoseconds (saturating), without the wall reading.
    pub fn now_mono_ns(&self, t: u64) -> u64 {
        if self.wall_only {
            let ms = u64::try_from(self.wall_ms(t) - self.wall_origin).unwrap_or(0);
            ms.saturating_mul(1_000_000)
        } else {
            self.mono_ns(t)
        }
    }

    fn rebase(&mut self, t: u64) {
        let mono = self.mono_ns(t);
        let wall = self.wall_ms(t);
        self.base_true = t;
        self.base_mono_ns = mono;
        self.base_wall_ms = wall;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Someone sets the wall clock by `delta_ms` (negative: back).
    pub fn step(&mut self, t: u64, delta_ms: i64) {
        self.rebase(t);
        self.base_wall_ms = self.base_wall_ms.saturating_add(delta_ms);
    }

    pub fn suspend(&mut self, t: u64) {
        self.rebase(t);
        self.suspended = true;
        self.replan();
    }

    /// A VM pause: like a suspend, but no monotonic clock counts it.
    pub fn pause(&mut self, t: u64) {
        self.suspend(t);
        self.paused = true;
    }

    pub fn resume(&mut self, t: u64) {
        self.rebase(t);
        self.suspended = false;
        self.paused = false;
        self.replan();
    }

    /// The first true instant at or after `t` at which the agent's monotonic
    /// reading reaches `target`; `None` while suspended (the host sleeps).
    #[inline]
    pub fn true_at_mono(&self, t: u64, target: Duration) -> Option<u64> {
        if self.plain()
            && let Ok(target_ns) = u64::try_from(target.as_nanos())
        {
            let at = match target_ns.checked_sub(self.base_mono_ns).filter(|n| *n > 0) {
                Some(need) => self.base_true.saturating_add(need.div_ceil(1_000_000)),
                None => t,
            };
            return Some(at.max(t));
        }
        self.true_at_mono_general(t, target)
    }

    #[inline(never)]
    fn true_at_mono_general(&self, t: u64, target: Duration) -> Option<u64> {
        if self.suspended {
            return None;
        }
        let rate = self.rate();
        let at = if self.wall_only {
            // wall(t') >= origin + ceil(target in ms)
            let want = self.wall_origin.saturating_add(
                i64::try_from(target.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX),
            );
            let need = i128::from(want) - i128::from(self.base_wall_ms);
            if need <= 0 {
                return Some(t);
            }
            self.base_true
                .saturating_add(u64::try_from((need * PPM + rate - 1) / rate).unwrap_or(u64::MAX))
        } else if let (Some(rate), Ok(target_ns)) =
            (self.rate_u64(), u64::try_from(target.as_nanos()))
        {
            let Some(need) = target_ns.checked_sub(self.base_mono_ns).filter(|n| *n > 0) else {
                return Some(t);
            };
            match need.checked_add(rate - 1) {
                Some(n) => self.base_true.saturating_add(n / rate),
                None => self.base_true.saturating_add(
                    u64::try_from((i128::from(need) + i128::from(rate) - 1) / i128::from(rate))
                        .unwrap_or(u64::MAX),
                ),
            }
        } else {
            let target_ns = i128::try_from(target.as_nanos()).unwrap_or(i128::MAX);
            let need = target_ns - i128::from(self.base_mono_ns);
            if need <= 0 {
                return Some(t);
            }
            self.base_true
                .saturating_add(u64::try_from((need + rate - 1) / rate).unwrap_or(u64::MAX))
        };
        Some(at.max(t))
    }

    /// True duration for `local_ms` of this clock's time (rounded up).
    pub fn true_for_local(&self, local_ms: u64) -> u64 {
        let rate = self.rate();
        u64::try_from((i128::from(local_ms) * PPM + rate - 1) / rate).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspend_stops_timers_and_the_bare_monotonic_clock_only() {
        for freeze in [false, true] {
            let mut c = HostClock::new(0, 1_000_000, Duration::from_secs(5), 0);
            c.freeze_mono_in_suspend = freeze;
            c.suspend(1000);
            let mono_s = if freeze { 6 } else { 10 };
            assert_eq!(c.mono_ns(5000), mono_s * 1_000_000_000);
            assert_eq!(c.wall_ms(5000), 1_005_000);
            assert_eq!(c.true_at_mono(5000, Duration::from_secs(7)), None);
            c.resume(5000);
            let at = c.true_at_mono(5000, Duration::from_secs(11));
            assert_eq!(at, Some(if freeze { 10_000 } else { 6_000 }));
        }
    }

    #[test]
    fn a_vm_pause_stops_the_monotonic_clock_and_not_the_wall_clock() {
        let mut c = HostClock::new(0, 1_000_000, Duration::from_secs(5), 0);
        c.pause(1000);
        assert_eq!(c.mono_ns(5000), 6_000_000_000);
        assert_eq!(c.wall_ms(5000), 1_005_000);
        c.resume(5000);
        assert_eq!(c.mono_ns(6000), 7_000_000_000);
        // A later suspend is counted again.
        c.suspend(6000);
        assert_eq!(c.mono_ns(8000), 9_000_000_000);
    }

    #[test]
    fn drift_and_steps() {
        let mut c = HostClock::new(0, 0, Duration::ZERO, 1000);
        assert_eq!(c.wall_ms(1_000_000), 1_001_000);
        let t = c.true_at_mono(0, Duration::from_millis(1_001_000));
        assert_eq!(t, Some(1_000_000));
        c.step(1_000_000, -10_000);
        assert_eq!(c.wall_ms(1_000_000), 991_000);
        assert_eq!(c.mono_ns(1_000_000), 1_001_000_000_000);
    }

    #[test]
    fn now_mono_ns_is_now_mono() {
        for (ppm, wall_only) in [(0, false), (250, false), (-999, false), (40, true)] {
            let mut c = HostClock::new(0, 1_800_000_000_000, Duration::from_secs(77), ppm);
            c.set_wall_only(wall_only);
            for t in [0, 1, 999, 86_400_000, 7 * 86_400_000 + 3] {
                let want = u64::try_from(c.now(t).mono.as_nanos()).unwrap_or(u64::MAX);
                assert_eq!(
                    c.now_mono_ns(t),
                    want,
                    "ppm {ppm} wall_only {wall_only} t {t}"
                );
            }
            c.step(5_000, -3_000);
            c.suspend(6_000);
            assert_eq!(
                u128::from(c.now_mono_ns(9_000)),
                c.now(9_000).mono.as_nanos()
            );
        }
    }

    #[test]
    fn the_plain_clock_reads_as_the_general_arithmetic_does() {
        let mut c = HostClock::new(1_000, 1_800_000_000_000, Duration::from_millis(12_345), 0);
        c.step(2_000, -7_777);
        c.suspend(3_000);
        c.resume(9_000);
        assert!(c.plain());
        for t in [9_000, 9_001, 86_400_000, 30 * 86_400_000 + 7, u64::MAX / 2] {
            assert_eq!(c.now(t), c.now_general(t), "t {t}");
            let mono = c.now_mono_ns(t);
            let near = [mono.saturating_add(1), mono.saturating_add(999_999)];
            for target in [
                0,
                1,
                mono.saturating_sub(1),
                mono,
                near[0],
                near[1],
                u64::MAX,
            ] {
                let target = Duration::from_nanos(target);
                assert_eq!(
                    c.true_at_mono(t, target),
                    c.true_at_mono_general(t, target),
                    "t {t} target {target:?}"
                );
            }
        }
    }

    #[test]
    fn fast_paths_match_the_wide_arithmetic() {
        for ppm in [0, 1, 250, -250, 999_999, -999_999] {
            let c = HostClock::new(1_000, 1_800_000_000_000, Duration::from_millis(12_345), ppm);
            for t in [1_000, 1_001, 86_400_000, 30 * 86_400_000 + 7] {
                let e = i128::from(t - 1_000);
                let rate = 1_000_000 + i128::from(ppm);
                let mono = 12_345_000_000 + e * rate;
                assert_eq!(i128::from(c.mono_ns(t)), mono);
                assert_eq!(
                    i128::from(c.wall_ms(t)),
                    1_800_000_000_000 + e * rate / 1_000_000
                );
                // The first instant at which the monotonic clock passes `mono`.
                let want = u64::try_from(mono).unwrap_or(0) + 1;
                let at = c
                    .true_at_mono(1_000, Duration::from_nanos(want))
                    .expect("running");
                assert!(c.mono_ns(at) >= want);
                assert!(at == 1_000 || c.mono_ns(at - 1) < want);
            }
        }
    }

    #[test]
    fn wall_only_mono_follows_a_step_back() {
        let mut c = HostClock::new(0, 50_000, Duration::ZERO, 0);
        c.set_wall_only(true);
        let before = c.now(10_000).mono;
        c.step(10_000, -5_000);
        assert_eq!(c.now(10_000).mono, before - Duration::from_secs(5));
        let at = c.true_at_mono(10_000, before).expect("running");
        assert_eq!(at, 15_000);
    }

    /// What `epoch` promises: within one, the wall clock's move less the
    /// monotonic clock's (in whole milliseconds, as T2 counts it) is 0 or 1.
    #[test]
    fn readings_within_one_epoch_differ_by_rounding_only() {
        let modes = [(false, false), (true, false), (false, true)];
        for (wall_only, mono_only) in modes {
            for ppm in [0, 1, 333, -333, 999_999, -999_999] {
                let mut c =
                    HostClock::new(0, 1_800_000_000_123, Duration::from_nanos(7_654_321), ppm);
                c.set_wall_only(wall_only);
                c.set_mono_only(mono_only);
                c.step(10, -1_234);
                let epoch = c.epoch();
                let times = [10, 11, 12, 999, 1_000, 86_400_001, 7 * 86_400_000 + 3];
                for (i, t1) in times.iter().enumerate() {
                    for t2 in &times[i..] {
                        let (a, b) = (c.now(*t1), c.now(*t2));
                        let mono = b.mono - a.mono;
                        let mono_ms = i64::try_from(mono.as_millis()).expect("small");
                        let step = b.wall.0 - a.wall.0 - mono_ms;
                        assert!(
                            (0..=1).contains(&step),
                            "ppm {ppm} modes {wall_only}/{mono_only}: {t1}..{t2} moved {step}"
                        );
                    }
                }
                assert_eq!(c.epoch(), epoch);
                c.suspend(20);
                assert_ne!(c.epoch(), epoch);
            }
        }
    }
}
