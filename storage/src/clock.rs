//! A manager's part in M9 and T3. Every transaction that judges a deadline
//! reads the storage clock between two readings of the manager's monotonic
//! clock; a step the watch finds is recorded in storage before the
//! transaction decides, and the transaction decides at the corrected
//! instants, so the first request after a database failover is already
//! judged right, whichever manager takes it.

use crate::port::{NowAndStamp, StorageError, Tx};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tenure_core::health::MAX_CLOCK_SKEW;
use tenure_core::manager::clock_watch::{
    Claim, ClockWatch, Instants, MAX_PLACED, Reading, RecordedStep, Step,
};

/// A monotonic clock from an arbitrary origin that counts time the host is
/// suspended (CLOCK_BOOTTIME on Linux); the simulator passes simulated time.
pub type MonoClock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The steps one transaction claimed, over all its attempts: an attempt that
/// rolled back wrote them in vain, so the next writes them again.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    all: Vec<Claim>,
    written: usize,
}

impl Claims {
    /// A new attempt of the same transaction begins: nothing written yet.
    pub(crate) fn restart(&mut self) {
        self.written = 0;
    }

    fn ids(&self) -> Vec<u64> {
        self.all.iter().map(|c| c.id).collect()
    }
}

/// The watch on the storage clock and what feeds it.
pub(crate) struct ClockKeeper {
    watch: Mutex<ClockWatch>,
    mono: Option<MonoClock>,
    /// The node id steps are recorded under: the one of the latest heartbeat.
    node_id: Mutex<String>,
}

impl std::fmt::Debug for ClockKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockKeeper")
            .field("watching", &self.mono.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClockKeeper {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ClockKeeper {
    pub(crate) fn new(mono: Option<MonoClock>) -> Self {
        Self {
            watch: Mutex::new(ClockWatch::default()),
            mono,
            node_id: Mutex::new(String::new()),
        }
    }

    fn watch(&self) -> MutexGuard<'_, ClockWatch> {
        // The watch is plain data, consistent between calls.
        self.watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A monotonic reading, taken just before the storage clock is read.
    pub(crate) fn mono(&self) -> Option<Duration> {
        self.mono.as_ref().map(|m| m())
    }

    /// Steps are recorded per process: two processes given one node id
    /// (M6) must each see what the other recorded, not record it twice. So
    /// the name carries the start of the process's nonce, when it has one.
    pub(crate) fn set_node(&self, node_id: &str, nonce: Option<&str>) {
        let short = nonce.map(|n| n.get(..8).unwrap_or(n));
        let mut n = self.node_id.lock().unwrap_or_else(|e| e.into_inner());
        // Compared in parts: the name is the same at every heartbeat but
        // the first, and formatting it each time cost an allocation.
        let same = match short {
            Some(short) => {
                n.strip_prefix(node_id)
                    .and_then(|rest| rest.strip_prefix(" ("))
                    .and_then(|rest| rest.strip_suffix(')'))
                    == Some(short)
            }
            None => n.as_str() == node_id,
        };
        if !same {
            *n = match short {
                Some(short) => format!("{node_id} ({short})"),
                None => node_id.to_owned(),
            };
        }
    }

    fn node(&self) -> String {
        self.node_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Steps this manager found, and the latest.
    pub(crate) fn seen(&self) -> (u64, Option<Step>) {
        let w = self.watch();
        (w.steps_seen(), w.last_step())
    }

    /// The instants the transaction that read `read` decides at. `before`
    /// is the monotonic reading taken before that read; without a
    /// monotonic clock no step is found, and recorded ones still count.
    pub(crate) fn instants(
        &self,
        tx: &mut dyn Tx,
        claims: &mut Claims,
        read: &NowAndStamp,
        before: Option<Duration>,
    ) -> Result<Instants, StorageError> {
        let (Some(mono), Some(before)) = (&self.mono, before) else {
            return Ok(Instants::new(
                read.now,
                read.clock.forward_ms,
                read.clock.high_water,
            ));
        };
        let reading = Reading {
            storage: read.now,
            mono_before: before,
            mono_after: mono(),
        };
        let observed = {
            // Held across the read of others' steps: the baseline they are
            // counted from must not move meanwhile.
            let mut watch = self.watch();
            if watch.is_first_reading() && read.clock.last_step > 0 {
                watch.recorded_before(tx.recent_clock_steps()?);
            }
            let others = match watch.recorded_since_needed(&read.clock) {
                Some(after) => {
                    let others = tx.clock_steps_since(after, &self.node())?;
                    let summary = tx.clock_steps()?;
                    let sizes = self.others_listed(tx, after, summary.count)?;
                    watch
                        .placed_by_movement(&sizes, &reading, MAX_CLOCK_SKEW)
                        .unwrap_or_else(|| {
                            watch.others_since_baseline(
                                others,
                                summary.last.as_ref(),
                                &reading,
                                MAX_CLOCK_SKEW,
                            )
                        })
                }
                None => 0,
            };
            watch.observe(reading, read.clock, others, MAX_CLOCK_SKEW)
        };
        if let Some(step) = observed.detected {
            tracing::warn!(
                step_ms = step.size_ms,
                "{step}: recorded in storage; deadlines judged before it keep their real length (M9)"
            );
        }
        claims.all.extend(observed.claims);
        if claims.written == claims.all.len() {
            return Ok(observed.instants);
        }
        let latest = tx.latest_deadline()?;
        let node = self.node();
        for c in &claims.all[claims.written..] {
            tx.record_clock_step(&RecordedStep::new(&node, c.step, latest))?;
        }
        claims.written = claims.all.len();
        // Recording moves window ends the step seemed to have passed: read
        // the open steps again rather than trust the read before it.
        let stored = tx.stored_clock(read.now)?;
        Ok(self.watch().instants(read.now, stored, &claims.ids()))
    }

    /// The sizes of the steps other nodes recorded after the `after`-th of
    /// `count`, oldest first, when two or more were recorded since and
    /// storage still lists them all; else none, and the sum decides.
    fn others_listed(
        &self,
        tx: &mut dyn Tx,
        after: i64,
        count: u64,
    ) -> Result<Vec<i64>, StorageError> {
        let since = count.saturating_sub(u64::try_from(after.max(0)).unwrap_or(u64::MAX));
        if !(2..=MAX_PLACED as u64).contains(&since) {
            return Ok(Vec::new());
        }
        let recent = tx.recent_clock_steps()?;
        let Some(first) = recent.len().checked_sub(since as usize) else {
            return Ok(Vec::new());
        };
        let node = self.node();
        Ok(recent[first..]
            .iter()
            .filter(|s| s.node_id != node)
            .map(|s| s.step.size_ms)
            .collect())
    }

    /// The transaction holding `claims` ended: committed or not.
    pub(crate) fn settle(&self, claims: &Claims, committed: bool) {
        if claims.all.is_empty() {
            return;
        }
        let ids = claims.ids();
        let mut w = self.watch();
        if committed {
            w.committed(&ids);
        } else {
            w.abandoned(&ids);
        }
    }
}
