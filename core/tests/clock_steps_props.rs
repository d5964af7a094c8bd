//! M9 and I1 as a property: whatever storage clock steps forward (each at
//! most `grace_period`) happen between two managers' transactions, a grant
//! is never judged past its deadline before its component's real grace and
//! the reclaim margin have run out. Steps within `max_clock_skew` are not
//! steps (M9) and are left to the margin: the bound leaves them out.

use proptest::prelude::*;
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::health::MAX_CLOCK_SKEW;
use tenure_core::manager::clock_watch::{
    ClockWatch, Instants, Reading, RecordedStep, StoredClock, open_forward_ms, record_step,
};

const GRACE_MS: i64 = 86_400_000;
const MARGIN_MS: i64 = 600_000;
/// Each storage read takes this long, as the brackets see it.
const READ_MS: i64 = 15;
const T0: i64 = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Ev {
    /// Real time passes.
    Wait(i64),
    /// The storage clock jumps forward (a failover to a host ahead).
    Step(i64),
    /// Manager `m` renews grant `g` (or grants it again once reclaimed).
    Renew { m: usize, g: usize },
    /// Manager `m` judges every grant (a sweep, or grants reclaimed in passing).
    Judge { m: usize },
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (1_000i64..GRACE_MS / 3).prop_map(Ev::Wait),
        1 => (1i64..=GRACE_MS).prop_map(Ev::Step),
        3 => (0usize..2, 0usize..3).prop_map(|(m, g)| Ev::Renew { m, g }),
        3 => (0usize..2).prop_map(|m| Ev::Judge { m }),
    ]
}

#[derive(Debug)]
struct Grant {
    /// Real instant of the last renewal: the component's grace counts from it.
    renewed_real: i64,
    /// What the managers cannot see of the steps since that renewal: steps
    /// within the skew, and the read time each bracket leaves uncertain.
    unseen_since: i64,
    held_until: UnixMillis,
}

struct World {
    real: i64,
    offset: i64,
    watches: [ClockWatch; 2],
    steps: Vec<RecordedStep>,
    grants: Vec<Option<Grant>>,
}

impl World {
    fn storage(&self) -> UnixMillis {
        UnixMillis(T0 + self.real + self.offset)
    }

    fn mono(ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(ms).expect("real time is positive"))
    }

    /// One transaction of manager `m`: read, observe, record what it found.
    fn transaction(&mut self, m: usize) -> Instants {
        let reading = Reading {
            storage: self.storage(),
            mono_before: Self::mono(self.real),
            mono_after: Self::mono(self.real + READ_MS),
        };
        let stored = StoredClock {
            forward_ms: open_forward_ms(&self.steps, reading.storage),
            high_water: None,
        };
        let seen = self.watches[m].observe(reading, stored, MAX_CLOCK_SKEW);
        let mut at = seen.instants;
        if !seen.claims.is_empty() {
            let latest = self.grants.iter().flatten().map(|g| g.held_until).max();
            for c in &seen.claims {
                record_step(&mut self.steps, RecordedStep::new("m", c.step, latest));
            }
            let ids: Vec<u64> = seen.claims.iter().map(|c| c.id).collect();
            let again = StoredClock {
                forward_ms: open_forward_ms(&self.steps, reading.storage),
                high_water: None,
            };
            at = self.watches[m].instants(reading.storage, again, &ids);
            self.watches[m].committed(&ids);
        }
        self.real += READ_MS;
        at
    }

    fn check(&self, at: &Instants) -> Result<(), TestCaseError> {
        for g in self.grants.iter().flatten() {
            let real_deadline = g.renewed_real + GRACE_MS + MARGIN_MS - g.unseen_since;
            if at.deadlines >= g.held_until {
                prop_assert!(
                    self.real >= real_deadline,
                    "reclaimable at real {} but its component may run until {} (held_until {}, deadlines {:?})",
                    self.real,
                    real_deadline,
                    g.held_until.0,
                    at
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn forward_steps_never_reclaim_a_slot_in_grace(events in prop::collection::vec(ev(), 1..60)) {
        let mut w = World {
            real: 0,
            offset: 0,
            watches: [ClockWatch::default(), ClockWatch::default()],
            steps: Vec::new(),
            grants: (0..3).map(|_| None).collect(),
        };
        // Both managers run before the first step: one started after a step
        // has no reading to compare with (a documented limit).
        w.transaction(0);
        w.transaction(1);
        let skew_ms = i64::try_from(MAX_CLOCK_SKEW.as_millis()).expect("small");
        for e in events {
            match e {
                Ev::Wait(ms) => w.real += ms,
                Ev::Step(ms) => {
                    w.offset += ms;
                    let unseen = if ms <= skew_ms { ms } else { 2 * READ_MS };
                    for g in w.grants.iter_mut().flatten() {
                        g.unseen_since += unseen;
                    }
                }
                Ev::Renew { m, g } => {
                    let at = w.transaction(m);
                    w.check(&at)?;
                    w.grants[g] = Some(Grant {
                        renewed_real: w.real,
                        unseen_since: 0,
                        held_until: UnixMillis(at.storage.0 + GRACE_MS + MARGIN_MS),
                    });
                }
                Ev::Judge { m } => {
                    let at = w.transaction(m);
                    w.check(&at)?;
                    // Reclaimed grants leave; their components re-grant later.
                    for slot in &mut w.grants {
                        if slot.as_ref().is_some_and(|g| at.deadlines >= g.held_until) {
                            *slot = None;
                        }
                    }
                }
            }
        }
    }
}
