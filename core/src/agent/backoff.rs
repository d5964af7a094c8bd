//! When and where the next attempt goes (A2, A6).

use super::rng::SplitMix64;
use std::time::Duration;

/// Which manager to ask, and how many have failed since the last success.
///
/// Managers are tried in order; a failure moves on to the next one at once, and
/// only when every manager has failed in a round does the agent back off and
/// start the next round at index 0. After a success the agent stays with the
/// manager that answered, so a dead first URL does not cost a request timeout
/// on every renewal.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    managers: usize,
    manager: usize,
    failed_in_round: usize,
    rounds_failed: u32,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Ask the next manager now.
    Now,
    /// Every manager failed: wait, then start over. `attempt` counts the failed
    /// rounds before this one, so the first wait is drawn below `initial`.
    Backoff { attempt: u32 },
}

impl Rotation {
    pub(crate) fn new(managers: usize) -> Self {
        Self {
            managers: managers.max(1),
            manager: 0,
            failed_in_round: 0,
            rounds_failed: 0,
        }
    }

    pub(crate) const fn manager(&self) -> usize {
        self.manager
    }

    pub(crate) fn succeeded(&mut self) {
        self.failed_in_round = 0;
        self.rounds_failed = 0;
    }

    pub(crate) fn failed(&mut self) -> Retry {
        self.failed_in_round += 1;
        if self.failed_in_round < self.managers {
            self.manager = (self.manager + 1) % self.managers;
            return Retry::Now;
        }
        let attempt = self.rounds_failed;
        self.rounds_failed = self.rounds_failed.saturating_add(1);
        self.failed_in_round = 0;
        self.manager = 0;
        Retry::Backoff { attempt }
    }
}

/// `min(cap, initial * 2^attempt)`, without overflow.
pub(crate) fn backoff_ceiling(initial: Duration, attempt: u32, cap: Duration) -> Duration {
    1u32.checked_shl(attempt)
        .and_then(|factor| initial.checked_mul(factor))
        .map_or(cap, |d| d.min(cap))
}

/// Full jitter: uniform in `[0, ceiling]`, so a fleet that failed together
/// does not come back together.
pub(crate) fn full_jitter(
    rng: &mut SplitMix64,
    initial: Duration,
    attempt: u32,
    cap: Duration,
) -> Duration {
    rng.duration_up_to(backoff_ceiling(initial, attempt, cap))
}

/// `renew_every * (1 + u)` with `u` uniform in `[-0.1, +0.1]`.
pub(crate) fn renew_delay(rng: &mut SplitMix64, renew_every: Duration) -> Duration {
    let base = renew_every.as_nanos();
    let low = base * 9 / 10;
    let span = u64::try_from(base / 5).unwrap_or(u64::MAX);
    let nanos = low.saturating_add(u128::from(rng.up_to(span)));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_tries_each_manager_once_per_round() {
        let mut r = Rotation::new(3);
        assert_eq!(r.manager(), 0);
        assert_eq!(r.failed(), Retry::Now);
        assert_eq!(r.manager(), 1);
        assert_eq!(r.failed(), Retry::Now);
        assert_eq!(r.manager(), 2);
        assert_eq!(r.failed(), Retry::Backoff { attempt: 0 });
        assert_eq!(r.manager(), 0);
        for _ in 0..2 {
            assert_eq!(r.failed(), Retry::Now);
        }
        assert_eq!(r.failed(), Retry::Backoff { attempt: 1 });
        // A success on manager 1 resets the count and keeps manager 1 first.
        assert_eq!(r.failed(), Retry::Now);
        r.succeeded();
        assert_eq!(r.manager(), 1);
        assert_eq!(r.failed(), Retry::Now);
        assert_eq!(r.manager(), 2);
        assert_eq!(r.failed(), Retry::Now);
        assert_eq!(r.manager(), 0);
        assert_eq!(r.failed(), Retry::Backoff { attempt: 0 });
    }

    #[test]
    fn a_single_or_zero_manager_backs_off_every_failure() {
        for n in [0, 1] {
            let mut r = Rotation::new(n);
            assert_eq!(r.failed(), Retry::Backoff { attempt: 0 });
            assert_eq!(r.failed(), Retry::Backoff { attempt: 1 });
            assert_eq!(r.manager(), 0);
        }
    }

    #[test]
    fn ceiling_doubles_from_initial_and_stops_at_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff_ceiling(s(1), 0, s(300)), s(1));
        assert_eq!(backoff_ceiling(s(1), 1, s(300)), s(2));
        assert_eq!(backoff_ceiling(s(1), 8, s(300)), s(256));
        assert_eq!(backoff_ceiling(s(1), 9, s(300)), s(300));
        assert_eq!(backoff_ceiling(s(1), 40, s(300)), s(300));
        assert_eq!(backoff_ceiling(s(1), u32::MAX, s(300)), s(300));
        assert_eq!(backoff_ceiling(Duration::MAX, 3, s(5)), s(5));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let mut rng = SplitMix64::new(42);
        let cap = Duration::from_secs(60);
        let draws: Vec<Duration> = (0..4000)
            .map(|_| full_jitter(&mut rng, Duration::from_secs(1), 30, cap))
            .collect();
        assert!(draws.iter().all(|d| *d <= cap));
        assert!(draws.iter().any(|d| *d < Duration::from_secs(1)));
        assert!(draws.iter().any(|d| *d > Duration::from_secs(59)));
        let first: Vec<Duration> = (0..1000)
            .map(|_| full_jitter(&mut rng, Duration::from_secs(1), 0, cap))
            .collect();
        assert!(first.iter().all(|d| *d <= Duration::from_secs(1)));
    }

    #[test]
    fn renew_delay_is_within_ten_percent() {
        let mut rng = SplitMix64::new(9);
        let every = Duration::from_secs(300);
        let draws: Vec<Duration> = (0..4000).map(|_| renew_delay(&mut rng, every)).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= Duration::from_secs(270) && *d <= Duration::from_secs(330))
        );
        assert!(draws.iter().any(|d| *d < Duration::from_secs(273)));
        assert!(draws.iter().any(|d| *d > Duration::from_secs(327)));
        assert_eq!(renew_delay(&mut rng, Duration::ZERO), Duration::ZERO);
        assert!(renew_delay(&mut rng, Duration::MAX) >= Duration::from_secs(1));
    }
}
