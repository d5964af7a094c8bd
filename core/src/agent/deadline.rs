//! What the two clocks say about a lease at one instant (T2), term by term.
//!
//! T2 takes the larger of the monotonic and the wall-clock elapsed time, so
//! a wall clock set back never lengthens grace. A wall clock set forward
//! must not stop a component that can reach a manager, so the two terms are
//! read apart: what only the wall clock says has run out is confirmed with a
//! manager first (`State::Confirming`); what the monotonic clock says has
//! run out is acted on at once.

use super::state::Lease;
use crate::time::Now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Neither term says the lease has run out.
    Fresh,
    /// Only the wall clock says the lease has run out; neither says grace is
    /// over.
    LeaseByWall,
    /// The monotonic clock says the lease has run out; neither says grace is
    /// over.
    Grace,
    /// Only the wall clock says grace is over.
    GraceByWall,
    /// The monotonic clock says grace is over: stop (I2).
    Over,
}

/// The reading of `lease` at `now`, and its T2 elapsed time in nanoseconds.
pub(crate) fn due(lease: &Lease, now: &Now) -> (Due, u128) {
    let mono = now.mono_nanos_since(&lease.since);
    let wall = now.wall_nanos_since(&lease.since);
    let (ttl, grace) = (lease.lease_ttl.as_nanos(), lease.grace_period.as_nanos());
    let due = if mono >= grace {
        Due::Over
    } else if wall >= grace {
        Due::GraceByWall
    } else if mono >= ttl {
        Due::Grace
    } else if wall >= ttl {
        Due::LeaseByWall
    } else {
        Due::Fresh
    };
    (due, mono.max(wall))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnixMillis;
    use std::time::Duration;

    fn lease() -> Lease {
        Lease {
            grant_id: None,
            since: Now::new(Duration::from_secs(100), UnixMillis(1_000_000)),
            lease_ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(3),
            grace_period: Duration::from_secs(60),
        }
    }

    /// `mono` and `wall` seconds after the lease's send.
    fn at(mono: u64, wall: i64) -> Now {
        Now::new(
            Duration::from_secs(100 + mono),
            UnixMillis(1_000_000 + wall * 1000),
        )
    }

    #[test]
    fn each_term_is_read_apart() {
        let l = lease();
        let cases = [
            (0, 0, Due::Fresh),
            (9, 9, Due::Fresh),
            (9, -500, Due::Fresh),
            (9, 10, Due::LeaseByWall),
            (10, 0, Due::Grace),
            (10, 59, Due::Grace),
            (30, -500, Due::Grace),
            (0, 60, Due::GraceByWall),
            (59, 10_000, Due::GraceByWall),
            (60, 0, Due::Over),
            (60, 10_000, Due::Over),
            (60, -10_000, Due::Over),
        ];
        for (mono, wall, want) in cases {
            let (got, elapsed) = due(&l, &at(mono, wall));
            assert_eq!(got, want, "mono {mono} wall {wall}");
            let max = Duration::from_secs(mono.max(u64::try_from(wall).unwrap_or(0)));
            assert_eq!(elapsed, max.as_nanos());
        }
    }
}
