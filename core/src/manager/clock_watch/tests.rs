use super::*;

const SKEW: Duration = Duration::from_secs(5);
const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

/// A reading at real second `s` (monotonic from 0) whose storage clock is
/// `offset_ms` ahead of real time, read in 10 ms.
fn read(s: i64, offset_ms: i64) -> Reading {
    let mono = Duration::from_secs(u64::try_from(s).expect("non-negative"));
    Reading {
        storage: UnixMillis(T0 + s * 1000 + offset_ms + 5),
        mono_before: mono,
        mono_after: mono + Duration::from_millis(10),
    }
}

fn none() -> StoredClock {
    StoredClock::default()
}

#[test]
fn a_steady_clock_shows_no_step_and_no_correction() {
    let mut w = ClockWatch::default();
    for s in 0..100 {
        let o = w.observe(read(s * 2, 0), none(), 0, SKEW);
        assert_eq!(o.detected, None);
        assert!(o.claims.is_empty());
        assert_eq!(o.instants, Instants::from(read(s * 2, 0).storage));
    }
    assert_eq!(w.steps_seen(), 0);
}

#[test]
fn a_forward_step_is_found_claimed_once_and_corrected_for() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    let o = w.observe(read(2, HOUR), none(), 0, SKEW);
    let step = o.detected.expect("an hour forward is a step");
    assert!(step.is_forward());
    // The lower bound of the step: the brackets' widths are not counted.
    assert!((HOUR - 20..=HOUR).contains(&step.size_ms), "{step:?}");
    assert_eq!(o.claims, vec![Claim { id: 0, step }]);
    assert_eq!(
        o.instants.deadlines,
        UnixMillis(o.instants.storage.0 - step.size_ms)
    );
    // A concurrent transaction of the same manager does not record it
    // again, but decides with it.
    let again = w.observe(read(3, HOUR), none(), 0, SKEW);
    assert_eq!(again.detected, None);
    assert!(again.claims.is_empty());
    assert_eq!(
        again.instants.deadlines.0,
        again.instants.storage.0 - step.size_ms
    );
    // Once committed, storage carries it.
    w.committed(&[0]);
    let stored = StoredClock {
        forward_ms: step.size_ms,
        ..none()
    };
    let after = w.observe(read(4, HOUR), stored, 0, SKEW);
    assert_eq!(
        after.instants.deadlines.0,
        after.instants.storage.0 - step.size_ms
    );
    assert_eq!(w.steps_seen(), 1);
    assert_eq!(w.last_step(), Some(step));
}

#[test]
fn a_step_of_a_transaction_that_failed_is_recorded_by_the_next() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    let first = w.observe(read(2, HOUR), none(), 0, SKEW);
    let ids: Vec<u64> = first.claims.iter().map(|c| c.id).collect();
    w.abandoned(&ids);
    let next = w.observe(read(3, HOUR), none(), 0, SKEW);
    assert_eq!(next.detected, None, "found once");
    assert_eq!(next.claims, first.claims, "claimed again");
}

#[test]
fn a_backward_step_is_reported_and_never_shortens_a_deadline() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    let stored = StoredClock {
        high_water: Some(read(0, 0).storage),
        ..none()
    };
    let o = w.observe(read(2, -HOUR), stored, 0, SKEW);
    let step = o.detected.expect("an hour back is a step");
    assert!(!step.is_forward());
    assert!(
        (-HOUR - 20..=-HOUR + 20).contains(&step.size_ms),
        "{step:?}"
    );
    assert_eq!(o.instants.deadlines, o.instants.storage, "no correction");
    assert_eq!(
        o.instants.license,
        read(0, 0).storage,
        "the license is judged at the high-water mark"
    );
}

#[test]
fn steps_within_the_skew_are_not_steps() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    assert_eq!(w.observe(read(2, 4_900), none(), 0, SKEW).detected, None);
    assert_eq!(w.observe(read(4, 0), none(), 0, SKEW).detected, None);
    assert!(
        w.observe(read(6, 5_100), none(), 0, SKEW)
            .detected
            .is_some()
    );
}

#[test]
fn drift_over_a_long_gap_is_not_a_step() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    // Ten hours without a read, storage 150 ppm fast: 5.4 s.
    let o = w.observe(read(36_000, 5_400), none(), 0, SKEW);
    assert_eq!(o.detected, None);
}

#[test]
fn a_restart_below_the_high_water_mark_is_a_backward_step() {
    let mut w = ClockWatch::default();
    let stored = StoredClock {
        high_water: Some(UnixMillis(T0 + 10 * 86_400_000)),
        ..none()
    };
    let o = w.observe(read(0, 0), stored, 0, SKEW);
    let step = o.detected.expect("ten days below the mark");
    assert!(step.size_ms < -9 * 86_400_000, "{step:?}");
    assert_eq!(o.instants.license, UnixMillis(T0 + 10 * 86_400_000));
    // Slightly below the mark (the mark lags a heartbeat) is not a step.
    let mut w = ClockWatch::default();
    let stored = StoredClock {
        high_water: Some(UnixMillis(T0 + 2_000)),
        ..none()
    };
    assert_eq!(w.observe(read(0, 0), stored, 0, SKEW).detected, None);
}

#[test]
fn a_reading_older_than_the_baseline_is_no_false_step() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    // A transaction read after the step and reported first ...
    assert!(
        w.observe(read(10, HOUR), none(), 0, SKEW)
            .detected
            .is_some()
    );
    // ... then one that read before it: neither step is real.
    let older = w.observe(read(9, 0), none(), 0, SKEW);
    assert_eq!(older.detected, None);
    // Overlapping brackets: no backward step either.
    let overlap = Reading {
        storage: UnixMillis(T0 + 10_000),
        mono_before: Duration::from_secs(9),
        mono_after: Duration::from_secs(11),
    };
    assert_eq!(w.observe(overlap, none(), 0, SKEW).detected, None);
}

#[test]
fn windows_end_when_every_earlier_deadline_has_passed_and_follow_later_steps() {
    let first = Step {
        size_ms: HOUR,
        seen_at: UnixMillis(T0),
    };
    let latest = UnixMillis(T0 + 5 * 86_400_000);
    let r = RecordedStep::new("a", first, Some(latest));
    assert_eq!(r.until, UnixMillis(latest.0 + HOUR));
    let r2 = RecordedStep::new("a", first, None);
    assert_eq!(r2.until, UnixMillis(T0 + HOUR));
    let back = RecordedStep::new(
        "b",
        Step {
            size_ms: -HOUR,
            seen_at: UnixMillis(T0),
        },
        Some(latest),
    );
    assert!(!back.is_open_at(UnixMillis(T0 - 1)), "never corrected");

    let mut steps = Vec::new();
    record_step(&mut steps, r.clone());
    assert_eq!(open_forward_ms(&steps, UnixMillis(T0 + 1)), HOUR);
    let second = Step {
        size_ms: 2 * HOUR,
        seen_at: UnixMillis(T0 + 1000),
    };
    record_step(&mut steps, RecordedStep::new("b", second, Some(latest)));
    assert_eq!(steps[0].until, UnixMillis(latest.0 + 3 * HOUR));
    assert_eq!(open_forward_ms(&steps, UnixMillis(T0 + 2000)), 3 * HOUR);
    assert_eq!(open_forward_ms(&steps, UnixMillis(latest.0 + 3 * HOUR)), 0);
    let ends: Vec<_> = steps.iter().map(|s| s.until.0).collect();
    record_step(&mut steps, back);
    assert_eq!(open_forward_ms(&steps, UnixMillis(T0 + 2000)), 3 * HOUR);
    // The clock went back an hour: the windows end an hour earlier on it,
    // at the same real instant.
    for (s, end) in steps.iter().zip(ends) {
        assert_eq!(s.until.0, end - HOUR);
    }
}

#[test]
fn a_window_closed_before_a_backward_step_stays_closed_after_it() {
    let fwd = Step {
        size_ms: HOUR,
        seen_at: UnixMillis(T0),
    };
    let mut steps = Vec::new();
    record_step(&mut steps, RecordedStep::new("a", fwd, None));
    let end = steps[0].until;
    // Ten hours after the window closed, the clock goes back a day.
    let seen = UnixMillis(end.0 + 10 * HOUR - 24 * HOUR);
    let back = Step {
        size_ms: -24 * HOUR,
        seen_at: seen,
    };
    record_step(&mut steps, RecordedStep::new("b", back, None));
    assert_eq!(open_forward_ms(&steps, seen), 0);
    assert_eq!(open_forward_ms(&steps, UnixMillis(seen.0 + 5 * HOUR)), 0);
}

#[test]
fn steps_others_recorded_explain_what_they_recorded_and_no_more() {
    let mut w = ClockWatch::default();
    w.observe(read(0, 0), none(), 0, SKEW);
    // Another manager recorded the hour this one sees: nothing new.
    let stored = StoredClock {
        forward_ms: HOUR,
        last_step: 1,
        ..none()
    };
    assert_eq!(w.recorded_since_needed(&stored), Some(0));
    let o = w.observe(read(2, HOUR), stored, HOUR, SKEW);
    assert_eq!(o.detected, None);
    assert_eq!(w.recorded_since_needed(&stored), None, "known now");
    // The clock went back an hour (recorded by the other) and came forward
    // again while this one did not look: the second step is no one's yet.
    let stored = StoredClock {
        forward_ms: HOUR,
        last_step: 2,
        ..none()
    };
    let o = w.observe(read(4, HOUR), stored, -HOUR, SKEW);
    let step = o.detected.expect("the unrecorded step forward");
    assert!((HOUR - 20..=HOUR).contains(&step.size_ms), "{step:?}");
}

#[test]
fn a_late_record_by_another_is_not_answered_and_nobody_answers_back() {
    // Manager a read before and after a 4-minute step forward; b started
    // after it. a records it only after b's baseline: b must not take it
    // for a step back of its own, or a would answer that, and so on.
    let mut a = ClockWatch::default();
    let mut b = ClockWatch::default();
    a.observe(read(0, 0), none(), 0, SKEW);
    b.observe(read(1000, 240_000), none(), 0, SKEW);
    let found = a.observe(read(1001, 240_000), none(), 0, SKEW).detected;
    assert!(found.is_some_and(|s| s.is_forward()), "{found:?}");
    let recorded = StoredClock {
        forward_ms: 240_000,
        last_step: 1,
        ..none()
    };
    assert_eq!(b.recorded_since_needed(&recorded), Some(0));
    let step = found.expect("found");
    let record = RecordedStep::new("a", step, None);
    let now = read(1003, 240_000);
    let others = b.others_since_baseline(step.size_ms, Some(&record), &now, SKEW);
    assert_eq!(others, 0, "it happened before b's baseline");
    let o = b.observe(now, recorded, others, SKEW);
    assert_eq!(o.detected, None);
    assert!(o.claims.is_empty());
    // The same step recorded by a peer while b was reading across it
    // counts: b's baseline was on the clock before it.
    let mut c = ClockWatch::default();
    c.observe(read(999, 0), none(), 0, SKEW);
    assert_eq!(
        c.others_since_baseline(step.size_ms, Some(&record), &read(1003, 240_000), SKEW),
        step.size_ms
    );
}

#[test]
fn a_late_record_within_a_long_interval_is_placed_by_the_clock_itself() {
    // The clock stepped 75 minutes forward while no manager read it; b read
    // it just after, then was cut off for 85 minutes; a, back from a hang,
    // recorded the step 80 minutes after b's baseline. Seen within b's
    // interval and within it shifted by the step: both fit. b's clock moved
    // with real time over the interval, so the step was before it.
    let step_ms = 75 * 60_000;
    let mut b = ClockWatch::default();
    b.observe(read(0, step_ms), none(), 0, SKEW);
    let step = Step {
        size_ms: step_ms,
        seen_at: read(80 * 60, step_ms).storage,
    };
    let record = RecordedStep::new("a", step, None);
    let recorded = StoredClock {
        forward_ms: step_ms,
        last_step: 1,
        ..none()
    };
    let now = read(85 * 60, step_ms);
    let others = b.others_since_baseline(step_ms, Some(&record), &now, SKEW);
    assert_eq!(others, 0, "before b's baseline");
    let o = b.observe(now, recorded, others, SKEW);
    assert_eq!(o.detected, None, "no phantom step back");
    // Had the step come during the interval, seen 10 minutes into it (both
    // fit again), the clock would show it, and the record explains it.
    let mut c = ClockWatch::default();
    c.observe(read(0, 0), none(), 0, SKEW);
    let early = Step {
        size_ms: step_ms,
        seen_at: read(10 * 60, step_ms).storage,
    };
    let record = RecordedStep::new("a", early, None);
    let others = c.others_since_baseline(step_ms, Some(&record), &now, SKEW);
    assert_eq!(others, step_ms);
    assert_eq!(c.observe(now, recorded, others, SKEW).detected, None);
}

#[test]
fn a_step_back_recorded_by_another_after_an_unrecorded_step_is_not_recorded_twice() {
    // b read the clock, then was cut off. The clock stepped 55 minutes
    // forward (a's restart met it, so no one recorded it), then 72 minutes
    // back, which a recorded 14 s later. Seen where a step before b's
    // baseline would be (the forward step shifts it), it is b's interval's
    // nonetheless: b records the forward step alone, not the step back again.
    let (fwd, back) = (55 * 60_000, -72 * 60_000);
    let mut b = ClockWatch::default();
    b.observe(read(0, 0), none(), 0, SKEW);
    let step = Step {
        size_ms: back,
        seen_at: read(2514, fwd + back).storage,
    };
    let record = RecordedStep::new("a", step, None);
    let recorded = StoredClock {
        last_step: 1,
        ..none()
    };
    let now = read(3300, fwd + back);
    let others = b.others_since_baseline(back, Some(&record), &now, SKEW);
    assert_eq!(others, back, "after b's baseline");
    let o = b.observe(now, recorded, others, SKEW);
    let found = o.detected.expect("the unrecorded step forward");
    assert!((fwd - 20..=fwd + 20).contains(&found.size_ms), "{found:?}");
}

#[test]
fn a_start_below_the_mark_that_recorded_steps_explain_records_nothing() {
    let h = T0 + 10_000;
    // Two steps back were recorded since the clock stood at the mark.
    let first = RecordedStep::new(
        "a",
        Step {
            size_ms: -5 * HOUR,
            seen_at: UnixMillis(h - 5 * HOUR + 2_000),
        },
        None,
    );
    let second = RecordedStep::new(
        "a",
        Step {
            size_ms: -HOUR,
            seen_at: UnixMillis(h - 6 * HOUR + 60_000),
        },
        None,
    );
    let stored = StoredClock {
        high_water: Some(UnixMillis(h)),
        last_step: 2,
        ..none()
    };
    let now = h - 6 * HOUR + 120_000;
    let at = |w: &mut ClockWatch| {
        w.observe(
            Reading {
                storage: UnixMillis(now),
                mono_before: Duration::ZERO,
                mono_after: Duration::from_millis(10),
            },
            stored,
            0,
            SKEW,
        )
    };
    let mut w = ClockWatch::default();
    w.recorded_before(vec![first.clone(), second]);
    assert_eq!(at(&mut w).detected, None, "both steps are on record");
    // Only an old step on record, taken far below the mark: the clock
    // climbed past it since, so the gap is a new step back.
    let mut w = ClockWatch::default();
    let old = RecordedStep::new(
        "a",
        Step {
            size_ms: -HOUR,
            seen_at: UnixMillis(T0 - 100 * HOUR),
        },
        None,
    );
    w.recorded_before(vec![old]);
    let step = at(&mut w).detected.expect("a step back no one recorded");
    assert!(step.size_ms < -5 * HOUR, "{step:?}");
    // The clock went back from where the latest recorded step left it.
    let mut w = ClockWatch::default();
    w.recorded_before(vec![first]);
    assert!(at(&mut w).detected.is_some(), "a second step back, unseen");
}

#[test]
fn recorded_since_counts_others_after_the_given_step() {
    let at = |n: &str, size_ms: i64| RecordedStep {
        node_id: n.into(),
        step: Step {
            size_ms,
            seen_at: UnixMillis(T0),
        },
        until: UnixMillis(T0),
    };
    let steps = [at("a", 10), at("b", -20), at("a", 40), at("b", 80)];
    assert_eq!(recorded_since(&steps, 0, "a"), 60);
    assert_eq!(recorded_since(&steps, 2, "a"), 80);
    assert_eq!(recorded_since(&steps, 2, "z"), 120);
    assert_eq!(recorded_since(&steps, 4, "z"), 0);
}

#[test]
fn a_mark_raised_on_a_clock_stepped_unseen_is_no_step_back_at_a_restart() {
    // A manager that had not seen a 2 h forward step raised the mark 1 h
    // ahead of real time; another recorded the step later (its window is
    // open). Read at a restart, the corrected instant is below the mark, but
    // the clock as read is above it: the clock never went back.
    let stored = StoredClock {
        forward_ms: 2 * HOUR,
        high_water: Some(UnixMillis(T0 + HOUR)),
        ..none()
    };
    let mut w = ClockWatch::default();
    let o = w.observe(read(0, 2 * HOUR), stored, 0, SKEW);
    assert_eq!(o.detected, None);
    assert!(o.claims.is_empty());
    assert_eq!(o.instants.deadlines, UnixMillis(T0 + 5));
    // The clock as read below the mark too is a step back, as before.
    let mut w = ClockWatch::default();
    let o = w.observe(read(0, 0), stored, 0, SKEW);
    let step = o.detected.expect("the clock went back below the mark");
    assert!(step.size_ms < -HOUR, "{step:?}");
}

#[test]
fn steps_recorded_while_a_process_hung_are_placed_by_the_clock_itself() {
    // b started after a 9-minute step forward (met unseen, so no one had
    // recorded it), took its baseline and hung. A peer back from a cut
    // recorded that step 18 minutes later; the clock then stepped 98
    // minutes forward, which the peer recorded too. b's clock moved by the
    // second step alone over its interval: the first came before its
    // baseline, and b records nothing, least of all a step back.
    let (s1, s2) = (530_717, 5_866_429);
    let mut b = ClockWatch::default();
    b.observe(read(0, s1), none(), 0, SKEW);
    let now = read(9560, s1 + s2);
    assert_eq!(b.placed_by_movement(&[s1, s2], &now, SKEW), Some(s2));
    let recorded = StoredClock {
        forward_ms: s1 + s2,
        last_step: 2,
        ..none()
    };
    assert_eq!(b.observe(now, recorded, s2, SKEW).detected, None);
    // Counted whole, the two records would show a step back no clock made.
    let mut c = ClockWatch::default();
    c.observe(read(0, s1), none(), 0, SKEW);
    let phantom = c.observe(now, recorded, s1 + s2, SKEW).detected;
    assert!(phantom.is_some_and(|s| s.size_ms < 0), "{phantom:?}");
    // Both steps in the interval: the clock shows both, and both count.
    let mut d = ClockWatch::default();
    d.observe(read(0, 0), none(), 0, SKEW);
    assert_eq!(d.placed_by_movement(&[s1, s2], &now, SKEW), Some(s1 + s2));
    // A step no one recorded in the interval as well: no part adds up, and
    // the sum decides as before.
    let mut e = ClockWatch::default();
    e.observe(read(0, s1), none(), 0, SKEW);
    let later = read(9560, s1 + s2 + HOUR);
    assert_eq!(e.placed_by_movement(&[s1, s2], &later, SKEW), None);
    // One step alone is placed by where it was seen, not here.
    assert_eq!(e.placed_by_movement(&[s2], &now, SKEW), None);
}
