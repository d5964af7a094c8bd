//! Storage clock steps (M9) and the instants a manager decides at (T3).
//!
//! A manager reads the storage clock in every transaction that judges a
//! deadline, and brackets that read with its own monotonic clock. Between two
//! reads it then knows how much real time passed, within the brackets: storage
//! time that ran ahead of it by more than `max_clock_skew` is a forward step,
//! storage time that fell behind is a backward step. The transaction that finds
//! a step records it in storage before it decides; every manager then judges
//! deadlines at the storage instant less the recorded forward steps still
//! open, so a component in grace before a step keeps its slot until its real
//! deadline (I1), whichever manager decides.

use crate::time::{UnixMillis, duration_ms};
use std::time::Duration;

/// Rate difference between the storage clock and a manager's monotonic clock
/// that is drift, not a step. It only matters after a long gap between two
/// reads (a storage outage of hours); between heartbeats it is microseconds.
pub const DRIFT_PPM: i64 = 200;

/// The most steps recorded since one reading that
/// [`ClockWatch::placed_by_movement`] tries every part of (2^n sums).
pub const MAX_PLACED: usize = 8;

/// One read of the storage clock, bracketed by this manager's monotonic clock:
/// the storage instant was read at some real instant between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub storage: UnixMillis,
    pub mono_before: Duration,
    pub mono_after: Duration,
}

/// A step of the storage clock beyond what real time explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Positive: the storage clock jumped forward; negative: back.
    pub size_ms: i64,
    /// The storage instant read after the step.
    pub seen_at: UnixMillis,
}

impl Step {
    pub const fn is_forward(&self) -> bool {
        self.size_ms > 0
    }

    /// What the clock would have shown at `seen_at` without this step.
    pub const fn unstepped(&self) -> UnixMillis {
        UnixMillis(self.seen_at.0.saturating_sub(self.size_ms))
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let way = if self.is_forward() { "forward" } else { "back" };
        write!(
            f,
            "storage clock stepped {way} by {} ms (seen at {})",
            self.size_ms.unsigned_abs(),
            crate::rfc3339::display(self.seen_at)
        )
    }
}

/// A step as storage keeps it, shared by every manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedStep {
    /// The manager that found it.
    pub node_id: String,
    pub step: Step,
    /// Storage instant until which a forward step is corrected for: every
    /// grant renewed before the step has passed its real deadline by then.
    /// Equal to `seen_at` for a backward step (reported, never corrected).
    pub until: UnixMillis,
}

impl RecordedStep {
    /// The record of `step`. `latest_deadline` is the latest `held_until`
    /// storage holds when the step is recorded: written on the clock before
    /// the step, it is reached on the clock after it `size` later
    /// ([`record_step`] adds the steps before this one still open).
    pub fn new(node_id: &str, step: Step, latest_deadline: Option<UnixMillis>) -> Self {
        let until = if step.is_forward() {
            let from = latest_deadline.map_or(step.seen_at, |d| d.max(step.seen_at));
            UnixMillis(from.0.saturating_add(step.size_ms))
        } else {
            step.seen_at
        };
        Self {
            node_id: node_id.to_owned(),
            step,
            until,
        }
    }

    /// Whether this step still holds deadlines back at storage instant `now`.
    pub fn is_open_at(&self, now: UnixMillis) -> bool {
        self.step.is_forward() && now < self.until
    }
}

/// Records `new` among `steps`, as every store does. The window ends already
/// recorded were on the clock before the step, forward or back: each still
/// open at the instant that clock would show now (`seen_at - size`), or at
/// `seen_at` when that is earlier, moves by the size, so it ends at the same
/// real instant (a forward step's even if the
/// step itself seems to have closed it; after a backward step a window left
/// where it was would hold every deadline back for the size of that step
/// longer). And the latest deadline a forward step's window was measured
/// from may have been written before those open steps, on a clock behind by
/// their sum: its window lasts that much longer.
pub fn record_step(steps: &mut Vec<RecordedStep>, mut new: RecordedStep) {
    let before = new.step.unstepped();
    if new.step.is_forward() {
        let older = open_forward_ms(steps.iter(), before);
        new.until = UnixMillis(new.until.0.saturating_add(older));
    }
    // After a backward step this also takes the windows that had closed on
    // the clock before it and would open again on the clock after it.
    let from = before.min(new.step.seen_at);
    for s in steps.iter_mut().filter(|s| s.is_open_at(from)) {
        s.until = UnixMillis(s.until.0.saturating_add(new.step.size_ms));
    }
    steps.push(new);
}

/// The signed sum of the steps of `steps` (numbered from 1 in the order
/// recorded) after the `after`-th, recorded by another node than
/// `excluding`: what a store that keeps them in a list answers.
pub fn recorded_since(steps: &[RecordedStep], after: i64, excluding: &str) -> i64 {
    let skip = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
    steps
        .iter()
        .skip(skip)
        .filter(|s| s.node_id != excluding)
        .fold(0i64, |sum, s| sum.saturating_add(s.step.size_ms))
}

/// The sum of the forward steps still open at storage instant `now`.
pub fn open_forward_ms<'a>(
    steps: impl IntoIterator<Item = &'a RecordedStep>,
    now: UnixMillis,
) -> i64 {
    steps
        .into_iter()
        .filter(|s| s.is_open_at(now))
        .fold(0i64, |sum, s| sum.saturating_add(s.step.size_ms))
}

/// What storage holds of its clock, read with the storage instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredClock {
    /// Recorded forward steps still open at the instant read (M9).
    pub forward_ms: i64,
    /// The latest instant a manager recorded (T3); `None` before the first.
    pub high_water: Option<UnixMillis>,
    /// The number of the latest recorded step; 0 before the first. Numbers
    /// grow with each step recorded (the memory store counts from 1; a
    /// database's are its row ids).
    pub last_step: i64,
}

/// The instants one transaction decides at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instants {
    /// The storage clock as read: every instant written (grant, renewal and
    /// end times, `held_until`) and every instant shown.
    pub storage: UnixMillis,
    /// `storage` less the forward steps still open: judges deadlines (M2, M9).
    pub deadlines: UnixMillis,
    /// The later of `deadlines` and the high-water mark: judges the license
    /// window, so a clock set back never makes an expired license valid (T3).
    pub license: UnixMillis,
}

impl Instants {
    pub fn new(storage: UnixMillis, forward_ms: i64, high_water: Option<UnixMillis>) -> Self {
        let deadlines = UnixMillis(storage.0.saturating_sub(forward_ms.max(0)));
        Self {
            storage,
            deadlines,
            license: high_water.map_or(deadlines, |h| h.max(deadlines)),
        }
    }
}

/// A storage instant with no step recorded: all three instants agree.
impl From<UnixMillis> for Instants {
    fn from(t: UnixMillis) -> Self {
        Self {
            storage: t,
            deadlines: t,
            license: t,
        }
    }
}

/// A step a transaction must record in storage before it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: u64,
    pub step: Step,
}

/// What one reading told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The instants to decide at if `claims` is empty. A transaction that
    /// records claims reads the stored clock again after them and asks
    /// [`ClockWatch::instants`]: recording reopens windows the step seemed
    /// to close.
    pub instants: Instants,
    /// Steps this reading's transaction must record: the one it found, and
    /// any that a failed transaction left unrecorded.
    pub claims: Vec<Claim>,
    /// The step this reading found, if any: to report once.
    pub detected: Option<Step>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    claim: Claim,
    claimed: bool,
}

/// One manager's watch on the storage clock. It holds the latest reading
/// and the steps it found that storage has not yet committed: those count in
/// every decision of this manager meanwhile, so no transaction of it decides
/// on an instant it knows to be stepped.
#[derive(Debug, Clone, Default)]
pub struct ClockWatch {
    /// The latest reading, and the number of the latest step recorded when
    /// it was read.
    baseline: Option<(Reading, i64)>,
    pending: Vec<Pending>,
    next_id: u64,
    seen: u64,
    last: Option<Step>,
    /// The latest steps storage held when this process first read the
    /// clock, oldest first: a start below the high-water mark that they
    /// explain is those steps, already recorded, not a new one.
    recorded_before_start: Vec<RecordedStep>,
}

fn ms(d: Duration) -> i64 {
    duration_ms(d)
}

/// Whether steps already recorded (`recent`, oldest first) account for the
/// storage clock standing at `now` below the high-water mark `h`: the clock
/// has not gone back from where the latest of them left it, and one of them
/// was taken from the mark itself, so the clock has stayed below the mark
/// since and every step back from there is on record. Otherwise two managers
/// record one step twice (once seen, once by a start below the mark), and
/// each later reads the other's record as a step it did not see.
fn explains_gap(recent: &[RecordedStep], now: UnixMillis, h: UnixMillis, skew_ms: i64) -> bool {
    let Some(latest) = recent.last() else {
        return false;
    };
    now.0.saturating_add(skew_ms) >= latest.step.seen_at.0
        && recent
            .iter()
            .any(|s| s.step.unstepped().0.saturating_add(skew_ms) >= h.0)
}

/// The largest gap between storage and monotonic elapsed time that is not a
/// step: the skew threshold plus drift over `elapsed_ms`.
fn tolerance_ms(skew: Duration, elapsed_ms: i64) -> i64 {
    ms(skew).saturating_add(elapsed_ms.max(0).saturating_mul(DRIFT_PPM) / 1_000_000)
}

impl ClockWatch {
    /// Whether the next reading is this process's first: [`ClockWatch::observe`]
    /// then wants the latest recorded step ([`ClockWatch::recorded_before`]).
    pub fn is_first_reading(&self) -> bool {
        self.baseline.is_none()
    }

    /// The latest steps storage holds, oldest first, read before the first
    /// reading.
    pub fn recorded_before(&mut self, recent: Vec<RecordedStep>) {
        self.recorded_before_start = recent;
    }

    /// What of `others_ms`, the steps others recorded since the baseline,
    /// happened after it, as [`ClockWatch::observe`] wants it. A peer that
    /// was not reading (cut off, hung) records a step late, after this
    /// process took a baseline on the clock already stepped: counted as a
    /// step of this interval it would be answered with a step the other
    /// way, and that answer in turn by the peer, every heartbeat. When one
    /// step was recorded since (`last`, the latest recorded, is it), where
    /// it was seen tells: seen `d` after the baseline, it happened before
    /// the baseline if `d` is within the real time since (`[0, e]`), and
    /// after it if `d` is that shifted by its size. Over an interval longer
    /// than the step both can hold: then the clock's own movement tells.
    /// Moved with real time, the step was before the baseline (during it,
    /// the clock would show it). Counted instead, it would be answered by a
    /// step the other way that no clock made, and a phantom step back
    /// shortens the windows of forward steps still open: slots freed early.
    /// Only a "before" drops it; two steps count as today.
    ///
    /// When neither the clock's own movement nor that step explains the
    /// interval, a step no one recorded lies in it too, and `d` may be
    /// shifted by it: a step back is then kept. Wrongly dropped it would be
    /// recorded again as part of this interval, a phantom step back that
    /// frees slots early; wrongly kept it is answered by a phantom step
    /// forward, which only holds deadlines back.
    pub fn others_since_baseline(
        &self,
        others_ms: i64,
        last: Option<&RecordedStep>,
        r: &Reading,
        skew: Duration,
    ) -> i64 {
        let (Some((base, _)), Some(last)) = (self.baseline, last) else {
            return others_ms;
        };
        let size = last.step.size_ms;
        if size != others_ms {
            return others_ms;
        }
        let e = ms(r.mono_after).saturating_sub(ms(base.mono_before));
        let tol = tolerance_ms(skew, e);
        let d = last.step.seen_at.millis_since(base.storage);
        let within =
            |lo: i64| d >= lo.saturating_sub(tol) && d <= lo.saturating_add(e).saturating_add(tol);
        let moved = r.storage.millis_since(base.storage).saturating_sub(e);
        let moved_with_real_time = moved.unsigned_abs() <= tol.unsigned_abs();
        let by_this_step = moved.abs_diff(size) <= tol.unsigned_abs();
        if size < 0 && !moved_with_real_time && !by_this_step {
            return others_ms;
        }
        if within(0) && (!within(size) || moved_with_real_time) {
            0
        } else {
            others_ms
        }
    }

    /// What of the steps others recorded since the baseline happened after
    /// it, when there are two or more (`sizes`: every one of them, oldest
    /// first) and some of them add up to what the clock moved beyond real
    /// time over the interval: those are this interval's, and the rest came
    /// before the baseline, recorded late by a peer that was not reading. A
    /// process back from a hang meets this when a step it met unseen at its
    /// start and a later one are both recorded while it hangs: counted
    /// whole, the first would be answered by a step back no clock made,
    /// which shortens the windows of forward steps still open. `None` when
    /// no part adds up (a step no one recorded lies in the interval too:
    /// [`ClockWatch::others_since_baseline`] decides) or when there are too
    /// many to try.
    pub fn placed_by_movement(&self, sizes: &[i64], r: &Reading, skew: Duration) -> Option<i64> {
        let (base, _) = self.baseline?;
        if sizes.len() < 2 || sizes.len() > MAX_PLACED {
            return None;
        }
        let e = ms(r.mono_after).saturating_sub(ms(base.mono_before));
        let tol = tolerance_ms(skew, e).unsigned_abs();
        let moved = r.storage.millis_since(base.storage).saturating_sub(e);
        (0u32..1 << sizes.len())
            .map(|part| {
                sizes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| part >> i & 1 == 1)
                    .fold(0i64, |sum, (_, size)| sum.saturating_add(*size))
            })
            .filter(|sum| moved.abs_diff(*sum) <= tol)
            .min_by_key(|sum| moved.abs_diff(*sum))
    }

    /// After which recorded step [`ClockWatch::observe`] needs the steps
    /// other managers recorded (their signed sum), when storage holds steps
    /// recorded since the latest reading.
    pub fn recorded_since_needed(&self, stored: &StoredClock) -> Option<i64> {
        self.baseline
            .map(|(_, known)| known)
            .filter(|known| stored.last_step > *known)
    }

    /// Compares `r` with the latest reading and gives the instants to decide
    /// at. `stored` is what the same transaction read of the clock's record;
    /// `others_ms` the signed sum of the steps other managers recorded since
    /// the latest reading (see [`ClockWatch::recorded_since_needed`]; 0 when
    /// it asks for none). What the storage clock moved beyond real time and
    /// those steps is a step no one recorded: a clock that went back and
    /// then forward while this manager did not look, with another recording
    /// only the first, still shows the second here.
    /// Readings may come in any order from concurrent transactions: the
    /// brackets make both bounds hold whatever the order, and a reading that
    /// does not follow the baseline moves it only when it shows a step.
    pub fn observe(
        &mut self,
        r: Reading,
        stored: StoredClock,
        others_ms: i64,
        skew: Duration,
    ) -> Observed {
        let detected = match self.baseline {
            None => {
                self.baseline = Some((r, stored.last_step));
                // No earlier reading of this process: only the high-water mark
                // can show that the clock went back, across a restart (T3).
                let at = Instants::new(r.storage, stored.forward_ms, None).deadlines;
                let explained = |h: UnixMillis| {
                    explains_gap(&self.recorded_before_start, r.storage, h, ms(skew))
                };
                stored
                    .high_water
                    .filter(|h| !explained(*h))
                    // The clock as read has passed a mark that only the
                    // corrected instant is below: the mark was raised on a
                    // clock already stepped forward, by a manager that had
                    // not seen the step (recorded later), and the clock
                    // never went back. Counted, it would be a step back no
                    // clock made, shortening the windows of the forward
                    // steps still open. A real step back smaller than the
                    // open correction goes unreported here instead: the
                    // deadlines stay held back, no slot is freed early.
                    .filter(|h| r.storage.0.saturating_add(ms(skew)) < h.0)
                    .map(|h| at.millis_since(h))
                    .filter(|back| back.saturating_neg() > ms(skew))
                    .map(|size_ms| Step {
                        size_ms,
                        seen_at: r.storage,
                    })
            }
            Some((base, _)) => {
                let mono_max = ms(r.mono_after).saturating_sub(ms(base.mono_before));
                let mono_min = ms(r.mono_before).saturating_sub(ms(base.mono_after));
                let gap = |storage_elapsed: i64| {
                    let ahead = storage_elapsed.saturating_sub(mono_max);
                    let behind = mono_min.saturating_sub(storage_elapsed);
                    if ahead > tolerance_ms(skew, mono_max) {
                        Some(ahead)
                    } else if mono_min >= 0 && behind > tolerance_ms(skew, mono_min) {
                        Some(behind.saturating_neg())
                    } else {
                        None
                    }
                };
                let raw = r.storage.millis_since(base.storage);
                let step = gap(raw.saturating_sub(others_ms));
                if mono_min >= 0 || step.is_some() {
                    self.baseline = Some((r, stored.last_step));
                }
                step.map(|size_ms| Step {
                    size_ms,
                    seen_at: r.storage,
                })
            }
        };
        if let Some(step) = detected {
            self.seen = self.seen.saturating_add(1);
            self.last = Some(step);
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            self.pending.push(Pending {
                claim: Claim { id, step },
                claimed: false,
            });
        }
        let mut claims = Vec::new();
        for p in self.pending.iter_mut().filter(|p| !p.claimed) {
            p.claimed = true;
            claims.push(p.claim);
        }
        Observed {
            instants: self.instants(r.storage, stored, &[]),
            claims,
            detected,
        }
    }

    /// The instants at storage instant `storage`: `stored` corrected by the
    /// forward steps this watch found that storage may not have yet, less
    /// those of `recorded` (claims the same transaction has written, which a
    /// read of `stored` after writing them already counts).
    pub fn instants(&self, storage: UnixMillis, stored: StoredClock, recorded: &[u64]) -> Instants {
        let pending_ms = self
            .pending
            .iter()
            .filter(|p| p.claim.step.is_forward() && !recorded.contains(&p.claim.id))
            .fold(0i64, |sum, p| sum.saturating_add(p.claim.step.size_ms));
        Instants::new(
            storage,
            stored.forward_ms.saturating_add(pending_ms),
            stored.high_water,
        )
    }

    /// The transaction holding these claims committed: storage has them.
    pub fn committed(&mut self, ids: &[u64]) {
        self.pending.retain(|p| !ids.contains(&p.claim.id));
    }

    /// The transaction holding these claims did not commit: the next one
    /// records them.
    pub fn abandoned(&mut self, ids: &[u64]) {
        for p in self
            .pending
            .iter_mut()
            .filter(|p| ids.contains(&p.claim.id))
        {
            p.claimed = false;
        }
    }

    /// How many steps this watch found.
    pub fn steps_seen(&self) -> u64 {
        self.seen
    }

    /// The latest step this watch found.
    pub fn last_step(&self) -> Option<Step> {
        self.last
    }
}

#[cfg(test)]
mod tests;
