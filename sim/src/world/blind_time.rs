//! Components running past their real grace deadline on time none of their
//! clocks counted: I2's blind time, a VM pause behind a wall clock set back
//! (docs/semantics.md, "Limits": such a host stops that much after its real
//! deadline). Storage reclaims the slot at the real deadline plus the
//! reclaim margin (M2), so another server may take it while the host still
//! runs. I1 lets such a component leave its count, as it does one whose
//! slot an operator released: only while I2 allows it blind time, once true
//! time is past the hold and the store ended its grant for grace. Every one
//! is reported.

use super::*;

impl World {
    /// Before I1 is judged over its limits: the components counted whose
    /// slots were reclaimed while they ran on blind time leave the count.
    pub(super) fn forfeit_slots_reclaimed_in_blind_time(&mut self) {
        let hold = self.plan.hold_ms();
        for c in 0..self.comps.len() {
            let comp = &self.comps[c];
            let Some(g) = comp.last_granted.filter(|_| comp.counted) else {
                continue;
            };
            if comp.i2_allowed <= comp.i2_base || self.t <= comp.last_ok_send + hold {
                continue;
            }
            if self.forfeit_if_reclaimed(c, g) {
                self.freed_in_blind_time += 1;
                self.trace_line(format_args!(
                    "c{c} leaves I1's count: its slot {g} was reclaimed while it ran on blind time"
                ));
            }
        }
    }
}
