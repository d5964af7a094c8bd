//! Database clock steps some manager met without having seen them happen,
//! and what the contract does not promise about them (docs/semantics.md,
//! "Limits"): a manager compares the storage clock with its own previous
//! read, so a manager that starts after a step has nothing to compare with.
//! Until a manager that read the clock before the step records it, grants
//! renewed before a forward step look older by its size, and the slot of a
//! component still in grace may be freed. Such a step may also be recorded
//! in two parts: from the high-water mark by the manager that starts, the
//! rest by the one that read the clock before it (M9's count allows one
//! record more for each).
//!
//! I1 lets a component whose slot such a step freed leave its count, as it
//! does one whose slot an operator released: only when the store ended its
//! grant for grace, and the unseen steps since its last success are large
//! enough to have made that grant look overdue. Every one is reported.

use super::*;

impl World {
    /// Before I1 is judged over its limits: the components counted whose
    /// slots an unseen forward step freed leave the count.
    pub(super) fn forfeit_slots_freed_unseen(&mut self) {
        if self.unseen_steps.is_empty() {
            return;
        }
        let hold = self.plan.hold_ms();
        for c in 0..self.comps.len() {
            let comp = &self.comps[c];
            let Some(g) = comp.last_granted.filter(|_| comp.counted) else {
                continue;
            };
            let since = comp.last_ok_send;
            let shift: i64 = self
                .unseen_steps
                .iter()
                .filter(|(at, _)| *at > since)
                .map(|(_, size)| *size)
                .sum();
            let slack = (since + hold).saturating_sub(self.t);
            if shift <= 0 || u64::try_from(shift).unwrap_or(0) + SKEW_MS < slack {
                continue;
            }
            if self.forfeit_if_reclaimed(c, g) {
                self.freed_by_unseen_step += 1;
                self.trace_line(format_args!(
                    "c{c} leaves I1's count: a storage clock step no manager saw freed {g}"
                ));
            }
        }
    }
}
