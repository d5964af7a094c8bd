//! M9 and I1 as a property: whatever storage clock steps (forward each at
//! most `grace_period`, and back) happen between two managers'
//! transactions, a grant is never judged past its deadline before its
//! component's real grace and the reclaim margin have run out.
//!
//! Managers heartbeat (read the clock) at least every `BEAT_MS` of real time
//! while online; one can go offline (no reads at all) for up to `OFFLINE_MS`,
//! as a manager cut off from storage is. Steps a reader cannot tell from
//! skew and drift (within `max_clock_skew` plus 200 ppm of the longest gap
//! here) are left to the margin: the bound leaves them out.

use proptest::prelude::*;
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::health::MAX_CLOCK_SKEW;
use tenure_core::manager::clock_watch::{
    ClockWatch, DRIFT_PPM, Instants, Reading, RecordedStep, StoredClock, open_forward_ms,
    record_step, recorded_since,
};

const GRACE_MS: i64 = 86_400_000;
const MARGIN_MS: i64 = 600_000;
/// Each storage read takes this long, as the brackets see it.
const READ_MS: i64 = 15;
const T0: i64 = 1_800_000_000_000;
/// An online manager reads the clock at least this often (its heartbeat,
/// stretched so that a case covers days).
const BEAT_MS: i64 = 2_000_000;
/// The longest a manager stays offline.
const OFFLINE_MS: i64 = 4_000_000;

#[derive(Debug, Clone)]
enum Ev {
    /// Real time passes; online managers heartbeat on the way.
    Wait(i64),
    /// The storage clock jumps (a failover to a host ahead, or behind).
    Step(i64),
    /// Manager `m` renews grant `g` (or grants it again once reclaimed).
    Renew { m: usize, g: usize },
    /// Manager `m` judges every grant (a sweep, or grants reclaimed in passing).
    Judge { m: usize },
    /// Manager `m` is cut off from storage for a while.
    Offline { m: usize },
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (1_000i64..GRACE_MS / 3).prop_map(Ev::Wait),
        1 => (1_000i64..BEAT_MS).prop_map(Ev::Wait),
        1 => (1i64..=GRACE_MS).prop_map(Ev::Step),
        1 => (1i64..=10_000).prop_map(Ev::Step),
        1 => (-GRACE_MS..=-1).prop_map(Ev::Step),
        3 => (0usize..2, 0usize..3).prop_map(|(m, g)| Ev::Renew { m, g }),
        3 => (0usize..2).prop_map(|m| Ev::Judge { m }),
        1 => (0usize..2).prop_map(|m| Ev::Offline { m }),
    ]
}

#[derive(Debug)]
struct Grant {
    /// Real instant of the last renewal: the component's grace counts from it.
    renewed_real: i64,
    /// What the managers cannot see of the steps since that renewal: steps
    /// within the tolerance, and the read time each bracket leaves uncertain.
    unseen_since: i64,
    held_until: UnixMillis,
}

struct World {
    real: i64,
    offset: i64,
    watches: [ClockWatch; 2],
    /// Real instant each manager comes back online (at or before `real`: online).
    online_at: [i64; 2],
    last_read: [i64; 2],
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

    fn stored(&self, now: UnixMillis) -> StoredClock {
        StoredClock {
            forward_ms: open_forward_ms(&self.steps, now),
            high_water: None,
            last_step: i64::try_from(self.steps.len()).expect("few"),
        }
    }

    /// One transaction of manager `m`, as storage's `Manager` runs it: read,
    /// observe (with what others recorded since its last read), record what
    /// it found, read the open steps again.
    fn transaction(&mut self, m: usize) -> Instants {
        let node = format!("m{m}");
        let reading = Reading {
            storage: self.storage(),
            mono_before: Self::mono(self.real),
            mono_after: Self::mono(self.real + READ_MS),
        };
        let stored = self.stored(reading.storage);
        let others = self.watches[m]
            .recorded_since_needed(&stored)
            .map_or(0, |after| recorded_since(&self.steps, after, &node));
        let seen = self.watches[m].observe(reading, stored, others, MAX_CLOCK_SKEW);
        let mut at = seen.instants;
        if !seen.claims.is_empty() {
            let latest = self.grants.iter().flatten().map(|g| g.held_until).max();
            for c in &seen.claims {
                record_step(&mut self.steps, RecordedStep::new(&node, c.step, latest));
            }
            let ids: Vec<u64> = seen.claims.iter().map(|c| c.id).collect();
            let again = self.stored(reading.storage);
            at = self.watches[m].instants(reading.storage, again, &ids);
            self.watches[m].committed(&ids);
        }
        self.last_read[m] = self.real;
        self.real += READ_MS;
        at
    }

    fn online(&self, m: usize) -> bool {
        self.real >= self.online_at[m]
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

    /// A heartbeat: reads the clock and judges, like any transaction.
    fn judge(&mut self, m: usize) -> Result<(), TestCaseError> {
        let at = self.transaction(m);
        self.check(&at)?;
        // Reclaimed grants leave; their components re-grant later.
        for slot in &mut self.grants {
            if slot.as_ref().is_some_and(|g| at.deadlines >= g.held_until) {
                *slot = None;
            }
        }
        Ok(())
    }

    fn wait(&mut self, ms: i64) -> Result<(), TestCaseError> {
        let end = self.real + ms;
        while self.real < end {
            self.real = end.min(self.real + BEAT_MS);
            for m in 0..2 {
                if self.online(m) {
                    self.judge(m)?;
                }
            }
        }
        Ok(())
    }
}

/// The largest step a reader may take for drift: the skew plus 200 ppm of
/// the longest gap between two reads of one manager here.
fn tolerance_ms() -> i64 {
    let skew = i64::try_from(MAX_CLOCK_SKEW.as_millis()).expect("small");
    skew + (OFFLINE_MS + 2 * BEAT_MS) * DRIFT_PPM / 1_000_000
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn storage_clock_steps_never_reclaim_a_slot_in_grace(events in prop::collection::vec(ev(), 1..100)) {
        let mut w = World {
            real: 0,
            offset: 0,
            watches: [ClockWatch::default(), ClockWatch::default()],
            online_at: [0, 0],
            last_read: [0, 0],
            steps: Vec::new(),
            grants: (0..3).map(|_| None).collect(),
        };
        // Both managers run before the first step: one started after a step
        // has no reading to compare with (a documented limit).
        w.transaction(0);
        w.transaction(1);
        for e in events {
            match e {
                Ev::Wait(ms) => w.wait(ms)?,
                Ev::Step(ms) => {
                    w.offset += ms;
                    // A step back only makes deadlines later in real time.
                    let unseen = match ms {
                        ..=0 => 0,
                        ms if ms <= tolerance_ms() => ms,
                        _ => 2 * READ_MS,
                    };
                    for g in w.grants.iter_mut().flatten() {
                        g.unseen_since += unseen;
                    }
                }
                Ev::Renew { m, g } if w.online(m) => {
                    let at = w.transaction(m);
                    w.check(&at)?;
                    w.grants[g] = Some(Grant {
                        renewed_real: w.real,
                        unseen_since: 0,
                        held_until: UnixMillis(at.storage.0 + GRACE_MS + MARGIN_MS),
                    });
                }
                Ev::Judge { m } if w.online(m) => w.judge(m)?,
                Ev::Offline { m } => {
                    w.online_at[m] = w.online_at[m].max(w.last_read[m] + OFFLINE_MS);
                }
                Ev::Renew { .. } | Ev::Judge { .. } => {}
            }
        }
    }
}
