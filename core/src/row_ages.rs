//! M6 under M9, the backward case: registry rows written before the storage
//! clock stepped back.
//!
//! Every manager writes its row's `last_seen` from the storage clock as read,
//! so a row stamped ahead of that clock was written before a backward step.
//! Its age cannot be read from storage time any more: by storage time such a
//! row would stay live for the size of the step, and a dead peer would keep
//! a live one from serving (with `max_managers` 1, the whole fleet) for that
//! long. A live writer rewrites its row at the next heartbeat with the new
//! clock; a dead one never does. So a row stamped ahead is aged on this
//! manager's own monotonic clock from the moment this manager first saw that
//! stamp: live for `LIVENESS` from then, as a fresh heartbeat would be, and
//! never longer. That fails closed: a peer is never taken for dead sooner
//! than if its row had just been written.
//!
//! A manager's own row is the other way round: taken for live, it would keep
//! the serving rank it held before it was cut off, beside the peer that
//! served meanwhile. So its own row stamped ahead is aged from the start of
//! its own last heartbeat that was written, and is dead without one.
//!
//! The forward case is [`forward_corrected`]: liveness is judged at the
//! deadline instant (storage time less the forward steps still open), and a
//! row stamped after such a step was seen carries the step in its stamp.

use crate::health::{LIVENESS, MAX_CLOCK_SKEW, ManagerRecord};
use crate::manager::clock_watch::RecordedStep;
use crate::time::UnixMillis;
use std::time::Duration;

/// The stamps ahead of the storage clock this manager has seen, with the
/// monotonic instant it first saw each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowAges {
    /// `(node id, last_seen, first seen at)`, in the order of `records`.
    ahead: Vec<(String, UnixMillis, Duration)>,
    /// When this manager's last written heartbeat began (monotonic).
    own_written: Option<Duration>,
}

impl RowAges {
    /// `records` as liveness is to be judged by process `nonce` of node `me`
    /// at `judge` (the deadline instant, [`forward_corrected`] rows), given
    /// this manager's monotonic reading. A row stamped more than
    /// `MAX_CLOCK_SKEW` ahead of `judge` gets the `last_seen` that makes it
    /// exactly as live at `judge` as its age on the monotonic clock allows;
    /// other rows are left as they are. Ahead of `judge`, not of the storage
    /// clock: a stamp from before a backward step that a later forward step
    /// brought back under the storage clock is still ahead of the deadline
    /// instant, and would otherwise keep a dead manager live for the
    /// difference.
    pub fn judged(
        &mut self,
        (me, nonce): (&str, Option<&str>),
        mut records: Vec<ManagerRecord>,
        judge: UnixMillis,
        mono_now: Duration,
    ) -> Vec<ManagerRecord> {
        let mut ahead = Vec::new();
        for r in &mut records {
            if !is_ahead(r, judge) {
                continue;
            }
            // Another process given this node id is a peer here.
            let own = r.node_id == me && r.instance.as_deref() == nonce;
            let age = if own {
                self.own_written
                    .map_or(LIVENESS, |at| mono_now.saturating_sub(at))
            } else {
                let first = self
                    .ahead
                    .iter()
                    .find(|(n, s, _)| *n == r.node_id && *s == r.last_seen)
                    .map_or(mono_now, |(_, _, at)| *at);
                ahead.push((r.node_id.clone(), r.last_seen, first));
                mono_now.saturating_sub(first)
            };
            let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            r.last_seen = UnixMillis(judge.0.saturating_sub(age));
        }
        // Stamps no longer in storage are forgotten: rewritten or removed.
        self.ahead = ahead;
        records
    }

    /// This manager's heartbeat that began at monotonic `started` was written.
    pub fn written(&mut self, started: Duration) {
        self.own_written = Some(self.own_written.map_or(started, |w| w.max(started)));
    }
}

/// Whether `r` was stamped more than `MAX_CLOCK_SKEW` after `at`.
pub fn is_ahead(r: &ManagerRecord, at: UnixMillis) -> bool {
    let skew = i64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(i64::MAX);
    r.last_seen.0 > at.0.saturating_add(skew)
}

/// M6 under M9, the forward case: `records` with each `last_seen` moved to
/// the time deadlines are judged in at storage instant `storage`, given the
/// recorded `steps`. A forward step still open holds the deadline instant
/// back by its size, and a stamp written before the step is on that same
/// clock; but a stamp written after it is ahead by the size, and judged
/// as it was, a dead manager's row stayed live for the size of the step
/// (hours): with `max_managers` 1 neither its peer nor its own restart
/// could serve meanwhile. So a stamp loses the size of every open step seen
/// at or before it. A stamp written after a step but before the step was
/// recorded keeps the size, which only keeps the row live longer: the
/// correction never makes a live manager look dead (fails closed). Rows
/// stamped ahead of the storage clock are [`RowAges::judged`]'s and are
/// left as they are.
pub fn forward_corrected(
    records: &[ManagerRecord],
    steps: &[RecordedStep],
    storage: UnixMillis,
) -> Vec<ManagerRecord> {
    records
        .iter()
        .map(|r| {
            if is_ahead(r, storage) {
                return r.clone();
            }
            let carried = steps
                .iter()
                .filter(|s| s.is_open_at(storage) && s.step.seen_at <= r.last_seen)
                .fold(0i64, |sum, s| sum.saturating_add(s.step.size_ms));
            let mut moved = r.clone();
            moved.last_seen = UnixMillis(r.last_seen.0.saturating_sub(carried));
            moved
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{heartbeat, may_serve};

    const S: Duration = Duration::from_secs(1);

    fn row(node: &str, last_seen: i64, nonce: &str) -> ManagerRecord {
        ManagerRecord {
            node_id: node.into(),
            live_since: UnixMillis(last_seen - 60_000),
            last_seen: UnixMillis(last_seen),
            clock_offset_ms: None,
            instance: Some(nonce.into()),
        }
    }

    /// A forward step of six hours seen at `seen`, open until `until`.
    fn forward(seen: i64, until: i64) -> RecordedStep {
        use crate::manager::clock_watch::Step;
        RecordedStep {
            node_id: "a".into(),
            step: Step {
                size_ms: 6 * 3_600_000,
                seen_at: UnixMillis(seen),
            },
            until: UnixMillis(until),
        }
    }

    #[test]
    fn a_row_stamped_after_a_forward_step_dies_after_liveness() {
        let seen = 100_000_000;
        let steps = [forward(seen, seen + 100 * 3_600_000)];
        // Manager b heartbeat after the step, then died; 30 s later, on
        // the stepped clock, a judges at the deadline instant.
        let dead = row("b", seen + 60_000, "nb");
        let storage = UnixMillis(seen + 90_000);
        let judge = UnixMillis(storage.0 - 6 * 3_600_000);
        assert!(dead.is_live(judge, LIVENESS), "uncorrected: live for hours");
        let moved = forward_corrected(&[dead], &steps, storage);
        assert!(!moved[0].is_live(judge, LIVENESS));
        let state = crate::health::LicenseState::Valid;
        let mine = row("a", storage.0, "na");
        let rows = [moved[0].clone(), mine];
        assert!(may_serve("a", true, &state, 1, &rows, judge, LIVENESS).is_ok());
        // Its own restart under a new nonce is not taken for a twin.
        assert!(heartbeat(&moved, "b", Some("nb2"), judge, None, LIVENESS).is_ok());
    }

    #[test]
    fn a_forward_step_never_makes_a_live_row_look_dead() {
        let seen = 100_000_000;
        let steps = [forward(seen, seen + 100 * 3_600_000)];
        let storage = UnixMillis(seen + 3_000);
        let judge = UnixMillis(storage.0 - 6 * 3_600_000);
        // Written 2 s ago after the step was seen; 7 s ago before the jump
        // (on the clock before it); 1 s ago after the jump, before it was
        // recorded.
        let rows = [
            row("b", storage.0 - 2_000, "nb"),
            row("c", judge.0 - 7_000, "nc"),
            row("d", seen - 1_000, "nd"),
        ];
        for r in forward_corrected(&rows, &steps, storage) {
            assert!(r.is_live(judge, LIVENESS), "{}", r.node_id);
        }
    }

    #[test]
    fn a_closed_step_corrects_nothing() {
        let seen = 100_000_000;
        let steps = [forward(seen, seen + 1_000)];
        let rows = [row("b", seen + 60_000, "nb")];
        let storage = UnixMillis(seen + 65_000);
        assert_eq!(forward_corrected(&rows, &steps, storage), rows.to_vec());
        let mut back = forward(seen, seen);
        back.step.size_ms = -back.step.size_ms;
        assert_eq!(forward_corrected(&rows, &[back], storage), rows.to_vec());
    }

    #[test]
    fn a_row_from_before_a_backward_step_dies_after_liveness_on_the_monotonic_clock() {
        let mut ages = RowAges::default();
        // The storage clock went back 12 hours; the peer's last row is ahead.
        let ghost = row("b", 50_000_000, "nb");
        let now = UnixMillis(50_000_000 - 12 * 3_600_000);
        let rows = [ghost.clone()];
        for (mono, live) in [
            (100, true),
            (105, true),
            (109, true),
            (110, false),
            (500, false),
        ] {
            let at = UnixMillis(now.0 + (mono - 100) * 1000);
            let judged = ages.judged(
                ("a", Some("na")),
                rows.to_vec(),
                at,
                S * u32::try_from(mono).unwrap_or(0),
            );
            assert_eq!(judged[0].is_live(at, LIVENESS), live, "at mono {mono} s");
        }
    }

    #[test]
    fn a_rewritten_row_is_judged_by_storage_time_again() {
        let mut ages = RowAges::default();
        let now = UnixMillis(1_000_000);
        let ghost = row("b", now.0 + 3_600_000, "nb");
        let judged = ages.judged(("a", Some("na")), vec![ghost], now, 100 * S);
        assert!(judged[0].is_live(now, LIVENESS));
        // The live peer heartbeats with the stepped clock: an ordinary row.
        let fresh = row("b", now.0 + 2_000, "nb");
        let later = UnixMillis(now.0 + 2_000);
        let judged = ages.judged(("a", Some("na")), vec![fresh.clone()], later, 102 * S);
        assert_eq!(judged[0], fresh);
        assert!(ages.ahead.is_empty());
    }

    #[test]
    fn rows_within_the_skew_and_rows_behind_are_left_alone() {
        let mut ages = RowAges::default();
        let now = UnixMillis(1_000_000);
        let rows = [
            row("a", now.0 + 4_000, "na"),
            row("b", now.0 - 20_000, "nb"),
        ];
        assert_eq!(
            ages.judged(("c", Some("nc")), rows.to_vec(), now, S)
                .as_slice(),
            rows.as_slice()
        );
    }

    #[test]
    fn a_dead_peer_stamped_ahead_stops_holding_the_only_serving_place() {
        let mut ages = RowAges::default();
        let now = UnixMillis(10_000_000);
        let ghost = row("a", now.0 + 45_000_000, "na");
        let mut rows = vec![ghost];
        let mut serving = Vec::new();
        for s in [0u32, 2, 4, 6, 8, 10, 12] {
            let at = UnixMillis(now.0 + i64::from(s) * 1000);
            let judged = ages.judged(("b", Some("nb")), rows.clone(), at, S * (1000 + s));
            let me = heartbeat(&judged, "b", Some("nb"), at, None, LIVENESS);
            let me = me.expect("node b is free");
            rows.retain(|r| r.node_id != "b");
            rows.push(me);
            ages.written(S * (1000 + s));
            let judged = ages.judged(("b", Some("nb")), rows.clone(), at, S * (1000 + s));
            let state = crate::health::LicenseState::Valid;
            serving.push(may_serve("b", true, &state, 1, &judged, at, LIVENESS).is_ok());
        }
        assert_eq!(serving, [false, false, false, false, false, true, true]);
    }

    #[test]
    fn a_manager_back_from_a_cut_does_not_keep_the_rank_its_old_row_held() {
        let now = UnixMillis(10_000_000);
        // Its own row from before the step, with the oldest live_since; the
        // peer served meanwhile and heartbeats with the stepped clock.
        let old = row("a", now.0 + 45_000_000, "na");
        let peer = row("b", now.0 - 1_000, "nb");
        for written in [None, Some(S * 900)] {
            let mut ages = RowAges::default();
            if let Some(w) = written {
                ages.written(w);
            }
            let judged = ages.judged(
                ("a", Some("na")),
                vec![old.clone(), peer.clone()],
                now,
                S * 1000,
            );
            let me = heartbeat(&judged, "a", Some("na"), now, None, LIVENESS).expect("own id");
            assert!(me.live_since > peer.live_since, "queued behind the peer");
        }
        // A heartbeat written 3 s ago keeps the rank, as without a step.
        let mut ages = RowAges::default();
        ages.written(S * 997);
        let judged = ages.judged(("a", Some("na")), vec![old.clone(), peer], now, S * 1000);
        let me = heartbeat(&judged, "a", Some("na"), now, None, LIVENESS).expect("own id");
        assert_eq!(me.live_since, old.live_since);
    }

    #[test]
    fn another_process_with_this_node_id_is_aged_as_a_peer() {
        let now = UnixMillis(10_000_000);
        // The row of a live process that was given the same node id, from
        // before a backward step: it must not be taken for this one's own.
        let other = row("a", now.0 + 45_000_000, "first");
        let mut ages = RowAges::default();
        let judged = ages.judged(("a", Some("second")), vec![other], now, S * 1000);
        let refused = heartbeat(&judged, "a", Some("second"), now, None, LIVENESS);
        assert!(refused.is_err(), "the live holder of the id keeps it");
    }
}
