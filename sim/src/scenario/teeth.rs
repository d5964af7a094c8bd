//! The teeth tests' plans: for each planted bug, a situation drawn from the
//! seed in which it would show.

use super::{cut_off, heal_at};
use crate::plan::{Bug, DAY, Expect, Fault, HOUR, Host, Link, MIN, Plan, SEC};
use crate::rng::SimRng;

/// Plans for the teeth tests: each draws, from the seed, a situation in which
/// the planted bug `bug` would show, with small protocol times. With
/// `planted` false the same plan runs against the code as it is.
pub fn teeth(bug: Bug, seed: u64, planted: bool) -> Plan {
    let mut r = SimRng::new(seed ^ 0x7EE7_7EE7);
    let n = usize::try_from(r.range(3, 8)).unwrap_or(3);
    let mut p = Plan::base(&format!("teeth-{bug:?}"), seed, n, 1);
    p.grace_s = 2 * 3600;
    p.renew_every_s = 60;
    p.lease_ttl_s = 180;
    p.comp_link = Link {
        delay_ms: r.range(0, 5),
        jitter_ms: r.range(0, 50),
        loss_ppm: 0,
        dup_ppm: 0,
    };
    p.restart_after_stop_ms = Some(r.range(1, 10) * MIN);
    p.stop_on_violation = true;
    let g = p.grace_ms();
    let t0 = 10 * MIN + r.below(20 * MIN);
    let c = usize::try_from(r.below(n as u64)).unwrap_or(0);
    match bug {
        Bug::ReclaimAtLeaseTtl => {
            // A component cut off (both ways, or requests only) for less than
            // grace, while a spare keeps asking for a slot.
            p.max_servers = Some(n as u64 - 1);
            let down = r.below(2) == 0;
            let len = r.range(10 * MIN, g * 3 / 4);
            cut_off(&mut p, c, t0, down);
            heal_at(&mut p, c, t0 + len);
            p.end_ms = t0 + len + HOUR;
        }
        Bug::NoReclaimMargin => {
            // A component on a slow clock cut off for longer than grace (its
            // grace lasts longer in true time) while a spare waits for its slot.
            p.max_servers = Some(n as u64 - 1);
            p.comp_ppm = r.range_i(20_000, 50_000);
            p.reclaim_margin_s = 600;
            slow_clocks(&mut p);
            cut_off(&mut p, c, t0, true);
            p.end_ms = t0 + g + 2 * HOUR;
        }
        Bug::WallClockGrace => {
            // A component cut off for longer than grace whose wall clock is set
            // back while it is in grace, or a reachable one whose wall clock
            // jumps days ahead.
            if r.below(2) == 0 {
                cut_off(&mut p, c, t0, true);
                let step_at = t0 + r.range(p.lease_ttl_s * SEC, g - MIN);
                let back = r.range(MIN, 10 * DAY);
                p.at(step_at, Fault::ClockStep(Host::Comp(c), -(back as i64)));
                p.end_ms = t0 + g + 2 * HOUR;
            } else {
                let ahead = r.range(g, 10 * DAY);
                p.at(t0, Fault::ClockStep(Host::Comp(c), ahead as i64));
                p.end_ms = t0 + 2 * HOUR;
            }
        }
        Bug::BareMonotonic => {
            // A component cut off for longer than grace whose wall clock is set
            // back while it is in grace, then suspended across its deadline:
            // only a monotonic reading that counts the suspend sees it.
            cut_off(&mut p, c, t0, true);
            let step_at = t0 + r.range(p.lease_ttl_s * SEC, g / 2);
            let back = r.range(g, 10 * DAY);
            p.at(step_at, Fault::ClockStep(Host::Comp(c), -(back as i64)));
            let sleep_at = step_at + r.range(MIN, g / 4);
            p.at(sleep_at, Fault::Suspend(c));
            p.at(t0 + g + r.range(10 * MIN, HOUR), Fault::Resume(c));
            p.end_ms = t0 + g + 3 * HOUR;
        }
        Bug::NoNonce => {
            // Both manager processes were given one node id.
            p.node_clash = true;
            p.end_ms = t0 + HOUR;
        }
        Bug::MonotonicOnlyGrace => {
            // A component cut off for longer than grace and paused, VM-style,
            // across its deadline: only the wall clock saw the pause.
            cut_off(&mut p, c, t0, true);
            let pause_at = t0 + r.range(p.lease_ttl_s * SEC, g / 2);
            p.at(pause_at, Fault::Pause(c));
            p.at(t0 + g + r.range(10 * MIN, HOUR), Fault::Resume(c));
            p.end_ms = t0 + g + 3 * HOUR;
        }
        Bug::LostHighWater => {
            // The license expires; later the database host's clock is set
            // back to before not_after, while supervisors restart stopped
            // components.
            p.not_after_ms = t0;
            p.restart_after_stop_ms = Some(r.range(1, 10) * MIN);
            let back_at = t0 + r.range(10 * MIN, g / 2);
            let back = back_at - t0 + r.range(MIN, 10 * HOUR);
            p.at(back_at, Fault::ClockStep(Host::Db, -(back as i64)));
            p.expect = Expect::LicenseExpiry { not_after: t0 };
            p.end_ms = t0 + g + HOUR;
        }
        Bug::LongAgentGrace => {
            // A component cut off for longer than grace.
            cut_off(&mut p, c, t0, r.below(2) == 0);
            p.end_ms = t0 + g + 2 * HOUR;
        }
        Bug::ProxyAnswerDecides => {
            // A proxy answers its own 403 page for a while.
            let len = r.range(SEC, 10 * MIN);
            p.at(
                t0,
                Fault::ProxyAnswers {
                    status: 403,
                    until_ms: t0 + len,
                },
            );
            p.end_ms = t0 + len + HOUR;
        }
        Bug::TwinsApart => {
            // Two processes claim one instance.
            let d = (c + 1 + usize::try_from(r.below(n as u64 - 1)).unwrap_or(0)) % n;
            p.twins = vec![(c, d)];
            p.restart_after_stop_ms = None;
            p.end_ms = t0 + 2 * HOUR;
        }
        Bug::UnserialisedGrant => {
            // Split brain: both managers serve through a flapping LB while
            // bursts of restarts race for too few slots.
            p.max_servers = Some((n as u64 / 2).max(1));
            p.flapping = true;
            let bursts = r.range(1, 4);
            for i in 0..bursts {
                let at = t0 + i * 20 * MIN;
                p.at(
                    at,
                    Fault::CrashBurst {
                        from: 0,
                        to: n,
                        after_ms: r.range(5, 30) * SEC,
                        spread_ms: r.range(0, 500),
                    },
                );
                // The operator frees the crashed servers' slots, so the
                // restarts race for free slots.
                for c in 0..n {
                    p.at(at + SEC, Fault::AdminRelease(c));
                }
            }
            p.end_ms = t0 + bursts * 20 * MIN + 30 * MIN;
        }
    }
    p.bug = planted.then_some(bug);
    p
}

/// Every component's clock runs slow by up to `comp_ppm`: they measure less
/// than true time, so their grace lasts longer than the license's in true
/// time (the reclaim margin covers that).
fn slow_clocks(p: &mut Plan) {
    p.comp_ppm = -p.comp_ppm.abs();
}
