//! Who will see each database clock step (M9). A manager records a step by
//! comparing the clock with its own previous read, so a step is watched by
//! the managers that read the clock before it and have not read it since;
//! each step keeps its own watchers, since a manager that read between two
//! steps watches only the later one. A manager that reads a step it did not
//! watch meets it unseen (`unseen_step`); a step whose watchers all died
//! before reading it is unwatched, and the record need not add up.

use super::*;

/// A database clock step some watcher has yet to read.
#[derive(Debug)]
pub(super) struct PendingStep {
    at: u64,
    size: i64,
    unseen: bool,
    watchers: [bool; 2],
}

impl World {
    /// The plan steps the database's clock by `size` now.
    pub(super) fn db_clock_stepped(&mut self, size: i64) {
        let watchers: [bool; 2] = std::array::from_fn(|m| {
            let mgr = &self.mgrs[m];
            mgr.status == MgrStatus::Up && mgr.node.last.is_some()
        });
        let mut step = PendingStep {
            at: self.t,
            size,
            unseen: false,
            watchers,
        };
        if watchers.contains(&true) {
            self.pending_steps.push(step);
        } else {
            self.db_steps_unwatched += 1;
            self.met_unseen(&mut step);
        }
    }

    /// Manager `m` read the database's clock (a heartbeat or a sweep; it
    /// serves nothing before its first heartbeat) and so recorded the steps
    /// made since its last read.
    pub(super) fn read_storage_clock(&mut self, m: usize) {
        let mut pending = std::mem::take(&mut self.pending_steps);
        // A step it watched it has seen whole: no later crash can hide it.
        // One it did not, it met at its start, before a watcher.
        pending.retain_mut(|s| {
            if !s.watchers[m] {
                self.met_unseen(s);
            }
            !s.watchers[m]
        });
        self.pending_steps = pending;
        if self.db_step_unread[m] {
            self.db_step_unread[m] = false;
            let by = self.windows_close_from(self.t);
            self.db_windows_closed_by = self.db_windows_closed_by.max(by);
        }
    }

    /// Manager `m`'s process died or hung: it will read no step it watched.
    pub(super) fn watcher_lost(&mut self, m: usize) {
        let mut pending = std::mem::take(&mut self.pending_steps);
        pending.retain_mut(|s| {
            s.watchers[m] = false;
            let watched = s.watchers.contains(&true);
            if !watched {
                self.db_steps_unwatched += 1;
                self.met_unseen(s);
            }
            watched
        });
        self.pending_steps = pending;
    }

    /// Some manager met step `s` without having seen it happen (counted
    /// once).
    fn met_unseen(&mut self, s: &mut PendingStep) {
        if !s.unseen {
            s.unseen = true;
            self.unseen_steps.push((s.at, s.size));
        }
    }
}
