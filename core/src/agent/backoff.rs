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
/// It also keeps the largest `Retry-After` heard in the current round: every
/// manager in a round may have answered, and the backoff that ends the round
/// honours the longest pause any of them asked for.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    managers: usize,
    manager: usize,
    failed_in_round: usize,
    rounds_failed: u32,
    /// Zero when no answer in this round carried one (a zero header asks for
    /// nothing either).
    retry_after: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Ask the next manager now.
    Now,
    /// Every manager failed: wait, then start over. `attempt` counts the failed
    /// rounds before this one, so the first wait is drawn below `initial`;
    /// `retry_after` is the largest the round's answers asked for (or zero).
    Backoff { attempt: u32, retry_after: Duration },
}

impl Rotation {
    pub(crate) fn new(managers: usize) -> Self {
        Self {
            managers: managers.max(1),
            manager: 0,
            failed_in_round: 0,
            rounds_failed: 0,
            retry_after: Duration::ZERO,
        }
    }

    pub(crate) const fn manager(&self) -> usize {
        self.manager
    }

    /// Starts a fresh round at the current manager (where a request in
    /// flight went): the next `managers` failures, that one included, each
    /// move on at once, and only the last ends the round (T2 confirmation).
    pub(crate) fn start_round(&mut self) {
        self.failed_in_round = 0;
        self.retry_after = Duration::ZERO;
    }

    pub(crate) fn succeeded(&mut self) {
        self.failed_in_round = 0;
        self.rounds_failed = 0;
        self.retry_after = Duration::ZERO;
    }

    /// A failed attempt, with the `Retry-After` its answer carried. The next
    /// manager is still asked at once: a `Retry-After` speaks for the one
    /// server that sent it, not for the others.
    pub(crate) fn failed(&mut self, retry_after: Option<Duration>) -> Retry {
        if let Some(r) = retry_after {
            self.retry_after = self.retry_after.max(r);
        }
        self.failed_in_round += 1;
        if self.failed_in_round < self.managers {
            self.manager = (self.manager + 1) % self.managers;
            return Retry::Now;
        }
        let attempt = self.rounds_failed;
        self.rounds_failed = self.rounds_failed.saturating_add(1);
        self.failed_in_round = 0;
        self.manager = 0;
        let retry_after = std::mem::take(&mut self.retry_after);
        Retry::Backoff {
            attempt,
            retry_after,
        }
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

/// The wait after a failed round: the round's `Retry-After`, clamped to `cap`,
/// plus full jitter on top.
///
/// Added, not `max(retry_after, jitter)`: a max would send every agent whose
/// draw fell below the pause back at the very same instant, the herd the
/// jitter exists to break up. Clamped to the cap in force (`renew_every`
/// while running, `max_start_backoff` while starting) so a misbehaving or
/// hostile server cannot park a running agent past its lease, or into grace
/// and a stop, with one header: the whole wait stays within twice the cap
/// (600 s against the default 900 s lease).
pub(crate) fn backoff_wait(
    rng: &mut SplitMix64,
    initial: Duration,
    attempt: u32,
    cap: Duration,
    retry_after: Duration,
) -> Duration {
    retry_after
        .min(cap)
        .saturating_add(full_jitter(rng, initial, attempt, cap))
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

    const fn backoff(attempt: u32) -> Retry {
        Retry::Backoff {
            attempt,
            retry_after: Duration::ZERO,
        }
    }

    #[test]
    fn rotation_tries_each_manager_once_per_round() {
        let mut r = Rotation::new(3);
        assert_eq!(r.manager(), 0);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 1);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 2);
        assert_eq!(r.failed(None), backoff(0));
        assert_eq!(r.manager(), 0);
        for _ in 0..2 {
            assert_eq!(r.failed(None), Retry::Now);
        }
        assert_eq!(r.failed(None), backoff(1));
        // A success on manager 1 resets the count and keeps manager 1 first.
        assert_eq!(r.failed(None), Retry::Now);
        r.succeeded();
        assert_eq!(r.manager(), 1);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 2);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 0);
        assert_eq!(r.failed(None), backoff(0));
    }

    #[test]
    fn a_fresh_round_asks_every_manager_once_from_the_current_one() {
        let mut r = Rotation::new(3);
        assert_eq!(r.failed(Some(Duration::from_secs(9))), Retry::Now);
        assert_eq!(r.manager(), 1);
        r.start_round();
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 2);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.manager(), 0);
        // The pause heard before the fresh round is forgotten.
        assert_eq!(r.failed(None), backoff(0));
    }

    #[test]
    fn a_single_or_zero_manager_backs_off_every_failure() {
        for n in [0, 1] {
            let mut r = Rotation::new(n);
            assert_eq!(r.failed(None), backoff(0));
            assert_eq!(r.failed(None), backoff(1));
            assert_eq!(r.manager(), 0);
        }
    }

    #[test]
    fn rotation_keeps_the_largest_retry_after_of_a_round_then_forgets_it() {
        let s = Duration::from_secs;
        let mut r = Rotation::new(3);
        // A 503 with Retry-After still moves on to the next manager at once.
        assert_eq!(r.failed(Some(s(2))), Retry::Now);
        assert_eq!(r.failed(Some(s(7))), Retry::Now);
        assert_eq!(
            r.failed(None),
            Retry::Backoff {
                attempt: 0,
                retry_after: s(7)
            }
        );
        // The next round starts with nothing heard.
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.failed(Some(s(1))), Retry::Now);
        assert_eq!(
            r.failed(Some(s(0))),
            Retry::Backoff {
                attempt: 1,
                retry_after: s(1)
            }
        );
        // A success mid-round forgets what the round had heard.
        assert_eq!(r.failed(Some(s(9))), Retry::Now);
        r.succeeded();
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.failed(None), Retry::Now);
        assert_eq!(r.failed(None), backoff(0));
    }

    #[test]
    fn backoff_wait_adds_the_clamped_retry_after_to_the_jitter() {
        let s = Duration::from_secs;
        let cap = s(60);
        let mut rng = SplitMix64::new(3);
        let waits: Vec<Duration> = (0..2000)
            .map(|_| backoff_wait(&mut rng, s(1), 3, cap, s(5)))
            .collect();
        assert!(waits.iter().all(|w| *w >= s(5) && *w <= s(13)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(5_100)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(12_900)));
        // A pause longer than the cap is clamped to it.
        for _ in 0..200 {
            let w = backoff_wait(&mut rng, s(1), 40, cap, s(86_400));
            assert!(w >= cap && w <= cap * 2, "{w:?}");
        }
        let w = backoff_wait(&mut rng, Duration::MAX, 0, Duration::MAX, Duration::MAX);
        assert!(w >= Duration::from_nanos(u64::MAX));
        // Zero is no pause: the plain full jitter, same draws for the same seed.
        let (mut a, mut b) = (SplitMix64::new(5), SplitMix64::new(5));
        for attempt in 0..10 {
            assert_eq!(
                backoff_wait(&mut a, s(1), attempt, cap, Duration::ZERO),
                full_jitter(&mut b, s(1), attempt, cap)
            );
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
