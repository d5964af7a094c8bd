//! The sweep (M2): once a manager's sweep has run, no grant is still held
//! past the deadline the plan gives it: its last renewal plus the license's
//! grace period and the reclaim margin, both the plan's. A slot freed only
//! in passing, when a grant request needs it, leaves the usage record and
//! the operator's view holding components that stopped long ago.

use super::*;

/// The most grants one sweep ends (the simulator's call).
pub(super) const SWEEP_BATCH: usize = 1000;

impl World {
    /// After a sweep that ended `ended` grants. Hourly, and only in plans
    /// whose database clock never steps (a step holds deadlines back, M9).
    pub(super) fn check_sweep(&mut self, ended: usize) {
        if ended >= SWEEP_BATCH || self.db_steps.0 > 0 || self.t % HOUR >= SWEEP_MS {
            return;
        }
        let Ok((now, held)) = self
            .checker
            .transaction(&mut |tx| Ok((tx.now()?, tx.held_grants()?)))
        else {
            return;
        };
        let hold = self.plan.grace_ms() + self.plan.reclaim_margin_s * SEC;
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
}
