//! The report of a finished run.

use super::*;

impl World {
    pub(super) fn finish(mut self) -> Report {
        self.t = self.plan.end_ms.max(self.t);
        self.check_clock_record(false);
        for c in 0..self.comps.len() {
            if let Some(s) = self.comps[c].grace_since.take() {
                self.grace_ms_total += self.t.saturating_sub(s);
            }
        }
        self.check_ledger();
        let expectation = crate::expect::evaluate(&self.plan, &self.outcome());
        if let Err(e) = &expectation {
            self.verdicts.fail_expectation(e.clone());
        }
        Report {
            scenario: self.plan.scenario.clone(),
            seed: self.plan.seed,
            components: self.plan.components,
            days_ms: self.plan.end_ms,
            events: self.events,
            inline_answers: self.inline_answers,
            inline_wakes: self.inline_wakes,
            grants: self.grants,
            renewals: self.renewals,
            time_in_grace_ms: self.grace_ms_total,
            stops: self.stops.clone(),
            denials: self.denials.clone(),
            failover_gap_ms: self.worst_gap,
            failover_bound_ms: self.failover.map(|_| self.failover_bound),
            manager_successes: [self.mgrs[0].grants_ok, self.mgrs[1].grants_ok],
            verdicts: self.verdicts.clone(),
            trace_hash: self.hash.0,
            max_resume_overrun_ms: self.max_resume_overrun,
            freed_by_unseen_step: self.freed_by_unseen_step,
            freed_in_blind_time: self.freed_in_blind_time,
        }
    }

    pub(super) fn outcome(&self) -> crate::expect::Outcome {
        crate::expect::Outcome {
            stops: self.comps.iter().map(|c| c.stops.clone()).collect(),
            starts: self.comps.iter().map(|c| c.starts.clone()).collect(),
            running: self.comps.iter().map(|c| c.running).collect(),
            entered_grace: self.comps.iter().map(|c| c.entered_grace).collect(),
            grace_ms_total: self.grace_ms_total,
            denials: self.denials.clone(),
            manager_successes: [self.mgrs[0].grants_ok, self.mgrs[1].grants_ok],
            late_successes: self.late_successes,
            held_until_at_crash: self.held_until_at_crash.clone(),
            grace_ms: self.plan.grace_ms(),
        }
    }
}
