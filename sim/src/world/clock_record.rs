//! M9's record of storage clock steps, checked against the steps the plan
//! made: managers record a step of the database's clock once, whichever of
//! them finds it, with its size, and record nothing the clock did not do.
//! A step recorded that never happened holds deadlines back or reports a
//! fault to the operator that is not there; a step missed lets a forward
//! step reclaim the slots of components still in grace (I1).

use super::*;

impl World {
    /// The most a recorded step may differ from the step the plan made, or
    /// a step go unrecorded: the skew, and the drift between the database's
    /// clock and a manager's monotonic clock over the whole run (the
    /// longest two readings can be apart).
    fn step_allowance_ms(&self) -> i64 {
        let ppm = self.plan.db_ppm.unsigned_abs()
            + self
                .plan
                .mgr_ppm
                .iter()
                .map(|p| p.unsigned_abs())
                .max()
                .unwrap_or(0);
        let drift = u128::from(self.plan.end_ms) * u128::from(ppm) / 1_000_000;
        SKEW_MS as i64 + i64::try_from(drift).unwrap_or(i64::MAX) + 1
    }

    /// No more steps recorded than the plan made (a step no manager saw
    /// may be recorded in two parts); once everything has
    /// healed (`settled`: the managers have read the clock since the last
    /// step), the recorded steps add up to the planted ones, when a manager
    /// process saw each step happen.
    pub(super) fn check_clock_record(&mut self, settled: bool) {
        let Ok((summary, sum)) = self
            .checker
            .transaction(&mut |tx| Ok((tx.clock_steps()?, tx.clock_steps_since(0, "")?)))
        else {
            return;
        };
        let (planted, planted_sum) = self.db_steps;
        if summary.count > planted + self.unseen_steps.len() as u64 {
            let msg = format!(
                "M9: {} storage clock steps recorded, the database's clock made {planted} ({} may be in two parts); the last: {:?}",
                summary.count,
                self.unseen_steps.len(),
                summary.last
            );
            return self.verdicts.fail_manager_rule(self.t, msg);
        }
        let allowed = self
            .step_allowance_ms()
            .saturating_mul(i64::try_from(planted).unwrap_or(i64::MAX));
        if settled && self.db_steps_unwatched == 0 && (sum - planted_sum).abs() > allowed {
            let msg = format!(
                "M9: recorded storage clock steps add up to {sum} ms, the database's clock stepped {planted_sum} ms"
            );
            self.verdicts.fail_manager_rule(self.t, msg);
        }
    }
}
