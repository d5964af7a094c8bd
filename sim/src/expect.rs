//! Each named scenario's own outcome, checked after the run.

use crate::plan::{Expect, MIN, Plan};
use crate::world::StopRec;
use std::collections::BTreeMap;
use tenure_core::ErrorCode;
use tenure_core::agent::StopReason;

#[derive(Debug, Clone)]
pub struct Outcome {
    pub stops: Vec<Vec<StopRec>>,
    pub starts: Vec<Vec<u64>>,
    pub running: Vec<bool>,
    pub entered_grace: Vec<bool>,
    pub grace_ms_total: u64,
    pub denials: BTreeMap<String, u64>,
    pub manager_successes: [u64; 2],
    pub late_successes: u64,
    /// Until when storage held a crashed component's slot (true ms), or when
    /// an operator released it.
    pub held_until_at_crash: BTreeMap<usize, u64>,
    pub grace_ms: u64,
}

fn grace_stop(stops: &[StopRec]) -> Option<&StopRec> {
    stops.iter().find(|s| s.reason == StopReason::GraceExpired)
}

fn at_deadline(c: usize, s: &StopRec) -> Result<(), String> {
    if s.t < s.earliest {
        return Err(format!(
            "c{c} stopped {} ms before its grace deadline",
            s.deadline - s.t
        ));
    }
    if s.t > s.allowed {
        return Err(format!(
            "c{c} stopped {} ms after its deadline",
            s.t - s.deadline
        ));
    }
    Ok(())
}

pub fn evaluate(plan: &Plan, o: &Outcome) -> Result<(), String> {
    let n = plan.components;
    match &plan.expect {
        Expect::Nothing => Ok(()),
        Expect::NoStops => match (0..n).find(|c| !o.stops[*c].is_empty()) {
            Some(c) => Err(format!("c{c} stopped: {:?}", o.stops[c][0].reason)),
            None => Ok(()),
        },
        Expect::AllStopAtDeadline { from } => {
            for c in 0..n {
                if o.starts[c].first().is_none_or(|s| s >= from) {
                    continue;
                }
                let grace: Vec<&StopRec> = o.stops[c]
                    .iter()
                    .filter(|s| s.reason == StopReason::GraceExpired)
                    .collect();
                if grace.len() != 1 {
                    return Err(format!(
                        "c{c} stopped for grace {} times, not once",
                        grace.len()
                    ));
                }
                at_deadline(c, grace[0])?;
                if grace[0].t < *from {
                    return Err(format!("c{c} stopped before the outage"));
                }
            }
            Ok(())
        }
        Expect::NoGrace => {
            if let Some(c) = (0..n).find(|c| o.entered_grace[*c]) {
                return Err(format!("c{c} entered grace during failover"));
            }
            match (0..n).find(|c| !o.stops[*c].is_empty()) {
                Some(c) => Err(format!("c{c} stopped: {:?}", o.stops[c][0].reason)),
                None => Ok(()),
            }
        }
        Expect::Racing => {
            if o.manager_successes.contains(&0) {
                return Err(format!(
                    "both managers must serve in split brain, got {:?}",
                    o.manager_successes
                ));
            }
            if o.denials.get("servers_exceeded").copied().unwrap_or(0) == 0 {
                return Err("no grant was refused for the limit: nothing raced".into());
            }
            Ok(())
        }
        Expect::ClockSkew {
            stepped_back,
            early,
            late_resume,
        } => {
            let s = grace_stop(&o.stops[*stepped_back])
                .ok_or_else(|| format!("c{stepped_back} (wall clock set back) never stopped"))?;
            at_deadline(*stepped_back, s)?;
            if let Some(e) = early {
                let s = grace_stop(&o.stops[*e])
                    .ok_or_else(|| format!("c{e} (wall clock set forward) never stopped"))?;
                if s.t > s.deadline {
                    return Err(format!("c{e} stopped after its deadline"));
                }
            }
            if let Some(r) = late_resume {
                let s = grace_stop(&o.stops[*r])
                    .ok_or_else(|| format!("c{r} (resumed past its deadline) never stopped"))?;
                if s.t > s.allowed {
                    return Err(format!("c{r} ran on after resuming"));
                }
            }
            let special = [Some(*stepped_back), *early, *late_resume];
            match (0..n).find(|c| !special.contains(&Some(*c)) && !o.stops[*c].is_empty()) {
                Some(c) => Err(format!("c{c} stopped: {:?}", o.stops[c][0].reason)),
                None => Ok(()),
            }
        }
        Expect::RestartInGrace { restarted, heal } => {
            for c in restarted {
                if let Some(s) = o.starts[*c].iter().skip(1).find(|s| *s < heal) {
                    return Err(format!(
                        "c{c} restarted during the outage and ran at {s} ms"
                    ));
                }
                if o.starts[*c].len() < 2 {
                    return Err(format!("c{c} never started again after its restart"));
                }
            }
            match (0..n).find(|c| !o.stops[*c].is_empty()) {
                Some(c) => Err(format!("c{c} stopped: {:?}", o.stops[c][0].reason)),
                None => Ok(()),
            }
        }
        Expect::CrashReclaim {
            crashed,
            restarted,
            restarted_at,
            released,
            released_at,
            spares,
        } => {
            // M3: a restart gets its own slot back at once, though the pool is full.
            let back = o.starts[*restarted]
                .iter()
                .find(|s| *s >= restarted_at)
                .ok_or_else(|| format!("restarted c{restarted} never ran again"))?;
            if back - restarted_at > 2 * MIN {
                return Err(format!(
                    "restarted c{restarted} waited {} ms for its slot",
                    back - restarted_at
                ));
            }
            let mut spare_starts: Vec<u64> = spares
                .iter()
                .flat_map(|c| o.starts[*c].iter().copied())
                .collect();
            spare_starts.sort_unstable();
            let released_slot = o
                .held_until_at_crash
                .get(released)
                .copied()
                .unwrap_or(*released_at);
            let reclaimed = o
                .held_until_at_crash
                .get(crashed)
                .copied()
                .ok_or("no deadline recorded for the crashed component")?;
            let slack = 45 * MIN;
            if spare_starts.len() != 2 {
                return Err(format!(
                    "{} spares started, expected 2: {spare_starts:?}",
                    spare_starts.len()
                ));
            }
            let (a, b) = (spare_starts[0], spare_starts[1]);
            if a < released_slot || a > released_slot + slack {
                return Err(format!(
                    "first spare started at {a} ms; the admin release freed a slot at {released_slot} ms"
                ));
            }
            if b < reclaimed {
                return Err(format!(
                    "second spare started at {b} ms, before the crashed grant's deadline {reclaimed} ms"
                ));
            }
            if b > reclaimed + slack {
                return Err(format!(
                    "second spare started at {b} ms, long after the crashed grant's deadline {reclaimed} ms"
                ));
            }
            Ok(())
        }
        Expect::CleanStop {
            stopped,
            spare,
            at,
            within,
        } => {
            // Only a first grant refused for the limit stops anybody.
            let full = StopReason::Denied {
                code: ErrorCode::ServersExceeded,
            };
            for c in 0..n {
                if let Some(s) = o.stops[c].iter().find(|s| s.reason != full) {
                    return Err(format!("c{c} stopped: {:?}", s.reason));
                }
            }
            if o.starts[*spare].iter().any(|s| s < at) {
                return Err(format!("spare c{spare} ran before c{stopped} stopped"));
            }
            match o.starts[*spare].first() {
                Some(s) if *s <= at + within => Ok(()),
                Some(s) => Err(format!(
                    "spare c{spare} ran {} ms after c{stopped}'s clean stop, not within {within} ms",
                    s - at
                )),
                None => Err(format!(
                    "spare c{spare} never ran after c{stopped}'s clean stop"
                )),
            }
        }
        Expect::LicenseExpiry { not_after } => {
            if o.late_successes > 0 {
                return Err(format!(
                    "{} grants or renewals succeeded after not_after",
                    o.late_successes
                ));
            }
            for c in 0..n {
                if o.starts[c].first().is_none_or(|s| s >= not_after) {
                    continue;
                }
                let s = o.stops[c]
                    .iter()
                    .find(|s| s.t >= *not_after)
                    .ok_or_else(|| format!("c{c} never stopped after the license expired"))?;
                if !matches!(
                    s.reason,
                    StopReason::LicenseExpired | StopReason::GraceExpired
                ) {
                    return Err(format!("c{c} stopped for {:?}", s.reason));
                }
                if s.t > *not_after + o.grace_ms + 20 * MIN {
                    return Err(format!("c{c} ran until {} ms, past expiry plus grace", s.t));
                }
            }
            Ok(())
        }
    }
}
