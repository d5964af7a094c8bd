//! T2's elapsed time is computed in nanoseconds for speed; it must equal the
//! `Duration` definition (larger of the monotonic and wall elapsed times,
//! saturating) for every input, the absurd ones included.

use proptest::prelude::*;
use std::time::Duration;
use tenure_core::time::duration_from_nanos;
use tenure_core::{Now, UnixMillis};

fn by_definition(now: &Now, earlier: &Now) -> Duration {
    let mono = now.mono.saturating_sub(earlier.mono);
    let wall_ms = now.wall.millis_since(earlier.wall);
    mono.max(Duration::from_millis(u64::try_from(wall_ms).unwrap_or(0)))
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::MAX),
        Just(Duration::ZERO),
    ]
}

fn now() -> impl Strategy<Value = Now> {
    let wall = prop_oneof![
        -10_000_000_000i64..10_000_000_000,
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
    ];
    (duration(), wall).prop_map(|(mono, wall)| Now::new(mono, UnixMillis(wall)))
}

proptest! {
    #[test]
    fn elapsed_matches_the_duration_definition(a in now(), b in now()) {
        let want = by_definition(&a, &b);
        prop_assert_eq!(a.elapsed_since(&b), want);
        prop_assert_eq!(a.elapsed_nanos_since(&b), want.as_nanos());
    }

    #[test]
    fn nanos_round_trip_and_saturate(d in duration(), extra in any::<u64>()) {
        prop_assert_eq!(duration_from_nanos(d.as_nanos()), d);
        let beyond = Duration::MAX.as_nanos() + u128::from(extra) + 1;
        prop_assert_eq!(duration_from_nanos(beyond), Duration::MAX);
    }
}
