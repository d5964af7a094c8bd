//! The sweep (M2): once a manager's sweep has run, no grant is still held
//! past the deadline the plan gives it: its last renewal plus the license's
//! grace period and the reclaim margin, both the plan's. A slot freed only
//! in passing, when a grant request needs it, leaves the usage record and
//! the operator's view holding components that stopped long ago.

use super::*;

/// The most grants one sweep ends (the simulator's call).
pub(super) const SWEEP_BATCH: usize = 1000;

impl World {
    /// After a sweep that ended `ended` grants. Hourly, and not while a
    /// database clock step may still hold deadlines back (M9).
    pub(super) fn check_sweep(&mut self, ended: usize) {
        let steps_open = self.db_step_unread.contains(&true) || self.t < self.db_windows_closed_by;
        if ended >= SWEEP_BATCH || steps_open || self.t % HOUR >= SWEEP_MS {
            return;
        }
        let Ok((now, held)) = self
            .checker
            .transaction(&mut |tx| Ok((tx.now()?, tx.held_grants()?)))
        else {
            return;
        };
        let hold = self.plan.hold_ms();
        let hold = i64::try_from(hold).unwrap_or(i64::MAX);
        if let Some(g) = held
            .iter()
            .find(|g| now.0 > g.last_renewed.0.saturating_add(hold))
        {
            let late = now.0 - g.last_renewed.0 - hold;
            let msg = format!(
                "M2: grant {} of {} still held {late} ms past its deadline after a sweep",
                g.grant_id, g.instance.hostname
            );
            self.verdicts.fail_manager_rule(self.t, msg);
        }
    }

    /// When the windows of the database clock steps made so far have all
    /// closed, for a manager that read the clock at `t`, from the plan: a
    /// forward step is corrected for until the latest deadline storage holds
    /// when it is recorded (at most a hold after `t`) plus its size, and the
    /// steps before it that are still open lengthen it by theirs. Both are
    /// bounded by the sum of every step's size; the ten minutes cover the
    /// drift of the clocks over a hold.
    pub(super) fn windows_close_from(&self, t: u64) -> u64 {
        let hold = self.plan.hold_ms();
        t + hold + 2 * self.db_step_sizes_ms + 10 * MIN
    }
}
