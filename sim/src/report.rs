//! What a run found: statistics, invariant verdicts and the trace hash.

use crate::plan::{DAY, SEC};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const INVARIANTS: [&str; 10] = [
    "I1 no over-use",
    "I2 grace bound",
    "I3 no cold start",
    "I4 outage tolerance",
    "I5 failover",
    "I6 durability",
    "I7 HA licence",
    "I8 determinism",
    "I9 no false stop",
    "I10 one identity, one process",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// First violation of I1..I10 (index 0..10): (true ms, message), and a count.
    pub first: [Option<(u64, String)>; 10],
    pub count: [u64; 10],
    pub liveness: Option<(u64, String)>,
    /// The first breach of an agent rule the simulator checks (true ms,
    /// message): A2 (a component sending or woken faster than any backoff
    /// allows; the run ends there, a storm only burns time) and A3 (the
    /// host told of grace's last day and hour late, or not at all).
    pub agent_rule: Option<(u64, String)>,
    /// The first breach of a manager rule the simulator checks beyond the
    /// invariants (true ms, message): M9's record of storage clock steps.
    pub manager_rule: Option<(u64, String)>,
    pub expectation: Option<String>,
}

impl Verdicts {
    pub fn fail(&mut self, inv: usize, t: u64, msg: String) {
        let i = inv - 1;
        self.count[i] += 1;
        if self.first[i].is_none() {
            self.first[i] = Some((t, msg));
        }
    }

    pub fn failed(&self, inv: usize) -> bool {
        self.count[inv - 1] > 0
    }

    pub fn fail_liveness(&mut self, t: u64, msg: String) {
        if self.liveness.is_none() {
            self.liveness = Some((t, msg));
        }
    }

    pub fn fail_agent_rule(&mut self, t: u64, msg: String) {
        if self.agent_rule.is_none() {
            self.agent_rule = Some((t, msg));
        }
    }

    pub fn fail_manager_rule(&mut self, t: u64, msg: String) {
        if self.manager_rule.is_none() {
            self.manager_rule = Some((t, msg));
        }
    }

    pub fn fail_expectation(&mut self, msg: String) {
        self.expectation = Some(msg);
    }

    /// A failure that ends a run stopping at the first: every one but an
    /// A3 breach, which is followed on so that the invariant a late
    /// warning foretells (I2) is seen too.
    pub fn any_final(&self) -> bool {
        self.count.iter().any(|c| *c > 0)
            || self.liveness.is_some()
            || self.manager_rule.is_some()
            || self.expectation.is_some()
    }

    pub fn any_failed(&self) -> bool {
        self.count.iter().any(|c| *c > 0)
            || self.liveness.is_some()
            || self.agent_rule.is_some()
            || self.manager_rule.is_some()
            || self.expectation.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub components: usize,
    pub days_ms: u64,
    pub events: u64,
    /// Of `events`, answers delivered within the event that sent them.
    pub inline_answers: u64,
    /// Of `events`, wake-ups run within the event that scheduled them.
    pub inline_wakes: u64,
    pub grants: u64,
    pub renewals: u64,
    pub time_in_grace_ms: u64,
    pub stops: BTreeMap<String, u64>,
    pub denials: BTreeMap<String, u64>,
    pub failover_gap_ms: Option<u64>,
    pub failover_bound_ms: Option<u64>,
    pub manager_successes: [u64; 2],
    pub verdicts: Verdicts,
    pub trace_hash: u64,
    pub max_resume_overrun_ms: u64,
    /// Components that left I1's count because a storage clock step no
    /// manager saw freed their slots (docs/semantics.md, "Limits").
    pub freed_by_unseen_step: u64,
    /// Components that left I1's count because their slots were reclaimed
    /// while they ran past their real deadline on time none of their clocks
    /// counted (docs/semantics.md, "Limits").
    pub freed_in_blind_time: u64,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.verdicts.any_failed()
    }

    /// The first failure, in one line.
    pub fn failure(&self) -> Option<String> {
        for (i, f) in self.verdicts.first.iter().enumerate() {
            if let Some((t, msg)) = f {
                return Some(format!("{} violated at {} ms: {msg}", INVARIANTS[i], t));
            }
        }
        if let Some((t, msg)) = &self.verdicts.agent_rule {
            return Some(format!("agent rule violated at {t} ms: {msg}"));
        }
        if let Some((t, msg)) = &self.verdicts.manager_rule {
            return Some(format!("manager rule violated at {t} ms: {msg}"));
        }
        if let Some((t, msg)) = &self.verdicts.liveness {
            return Some(format!("liveness failed at {t} ms: {msg}"));
        }
        self.verdicts
            .expectation
            .as_ref()
            .map(|e| format!("scenario expectation failed: {e}"))
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        let days = self.days_ms as f64 / DAY as f64;
        let _ = writeln!(
            s,
            "scenario {} seed {}: {} components, {days:.2} simulated days, {} events ({} answers and {} wake-ups inline)",
            self.scenario,
            self.seed,
            self.components,
            self.events,
            self.inline_answers,
            self.inline_wakes
        );
        let _ = writeln!(
            s,
            "grants {}  renewals {}  (manager-0 {} / manager-1 {} successes)",
            self.grants, self.renewals, self.manager_successes[0], self.manager_successes[1]
        );
        let _ = writeln!(
            s,
            "time in grace {:.1} component-hours",
            self.time_in_grace_ms as f64 / 3_600_000.0
        );
        let stops: Vec<String> = self.stops.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "stops by reason: {}",
            if stops.is_empty() {
                "none".into()
            } else {
                stops.join(" ")
            }
        );
        let denials: Vec<String> = self
            .denials
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            s,
            "manager refusals: {}",
            if denials.is_empty() {
                "none".into()
            } else {
                denials.join(" ")
            }
        );
        match (self.failover_gap_ms, self.failover_bound_ms) {
            (Some(g), Some(b)) => {
                let _ = writeln!(
                    s,
                    "worst renewal gap across failover: {:.3} s (bound {:.1} s: LB detection + request timeout + one backoff step)",
                    g as f64 / SEC as f64,
                    b as f64 / SEC as f64
                );
            }
            (None, Some(b)) => {
                let _ = writeln!(
                    s,
                    "worst renewal gap across failover: none measured (bound {:.1} s)",
                    b as f64 / SEC as f64
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "worst renewal gap across failover: no failover in this run"
                );
            }
        }
        if self.freed_by_unseen_step > 0 {
            let _ = writeln!(
                s,
                "slots freed by a storage clock step no manager saw (left I1's count): {}",
                self.freed_by_unseen_step
            );
        }
        if self.freed_in_blind_time > 0 {
            let _ = writeln!(
                s,
                "slots reclaimed from components running on blind time (left I1's count): {}",
                self.freed_in_blind_time
            );
        }
        if self.max_resume_overrun_ms > 0 {
            let _ = writeln!(
                s,
                "worst stop after a grace deadline (host resumed past it; driver max_sleep {} s): {:.3} s",
                crate::world::DRIVER_MAX_SLEEP_MS / SEC,
                self.max_resume_overrun_ms as f64 / SEC as f64
            );
        }
        for (i, name) in INVARIANTS.iter().enumerate() {
            let v = match (&self.verdicts.first[i], i) {
                (Some((t, msg)), _) => format!(
                    "VIOLATED x{} (first at {t} ms: {msg})",
                    self.verdicts.count[i]
                ),
                (None, 7) => format!("trace hash {:016x} (compare two runs)", self.trace_hash),
                (None, _) => "ok".into(),
            };
            let _ = writeln!(s, "  {name:<22} {v}");
        }
        let _ = writeln!(
            s,
            "  {:<22} {}",
            "liveness",
            match &self.verdicts.liveness {
                Some((t, m)) => format!("FAILED at {t} ms: {m}"),
                None => "ok".into(),
            }
        );
        let _ = writeln!(
            s,
            "  {:<22} {}",
            "agent rules A1-A5",
            match &self.verdicts.agent_rule {
                Some((t, m)) => format!("VIOLATED at {t} ms: {m}"),
                None => "ok".into(),
            }
        );
        let _ = writeln!(
            s,
            "  {:<22} {}",
            "scenario expectation",
            match &self.verdicts.expectation {
                Some(m) => format!("FAILED: {m}"),
                None => "ok".into(),
            }
        );
        let _ = writeln!(s, "trace hash {:016x}", self.trace_hash);
        s
    }
}
