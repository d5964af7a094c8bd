//! The named scenarios, and the swarm's draw of a scenario and its fault
//! parameters from a seed.

use crate::plan::{DAY, Expect, Fault, HOUR, Host, Link, MIN, Plan, SEC};
use crate::rng::SimRng;
use tenure_core::ErrorCode;

mod chaos;
mod teeth;

use chaos::chaos;
pub use teeth::teeth;

pub const NAMES: [&str; 26] = [
    "grace-survives",
    "grace-expires",
    "failover",
    "split-brain",
    "clock-skew",
    "storage-outage",
    "restart-in-grace",
    "crash-reclaim",
    "license-expiry",
    "proxy-pages",
    "wall-steps",
    "twins",
    "storage-clock-steps",
    "db-failover-clock-ahead",
    "license-not-yet-valid",
    "slow-clock-reclaim",
    "db-failover-clock-behind",
    "vm-pause",
    "node-id-clash",
    "racing-managers",
    "direct-urls",
    "clean-stop",
    "manager-refusals",
    "pause-in-flight",
    "pause-in-outage",
    "step-windows-close",
];

/// Protocol time settings; the swarm shrinks them so a seed stays cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub grace_s: u64,
    pub renew_every_s: u64,
    pub lease_ttl_s: u64,
}

impl Scale {
    /// The contract's defaults (docs/protocol.md section 9): grace 5 days, renew 300 s, lease 900 s.
    pub const DEFAULT: Scale = Scale {
        grace_s: 432_000,
        renew_every_s: 300,
        lease_ttl_s: 900,
    };
}

/// A named scenario; `None` for an unknown name. `days` 0 means "as long as
/// the scenario needs".
pub fn named(name: &str, seed: u64, components: usize, days: u64, scale: Scale) -> Option<Plan> {
    let mut p = Plan::base(name, seed, components.max(1), days.max(1));
    p.grace_s = scale.grace_s;
    p.renew_every_s = scale.renew_every_s;
    p.lease_ttl_s = scale.lease_ttl_s;
    let g = p.grace_ms();
    let t0 = g / 5;
    let l = HOUR.max(4 * p.renew_every_s * SEC);
    let n = p.components;
    let needed;
    match name {
        "grace-survives" => {
            // Down for grace minus an hour (at full scale): the last renewal
            // before the outage is at most renew_every + 10 % earlier.
            let margin = (g / 120).max(3 * p.renew_every_s * SEC);
            let heal = t0 + g - margin;
            p.at(t0, Fault::MgrCrash(0));
            p.at(t0, Fault::MgrCrash(1));
            p.at(heal, Fault::MgrRestart(0));
            p.at(heal, Fault::MgrRestart(1));
            p.liveness_at = Some(heal + l);
            p.expect = Expect::NoStops;
            needed = heal + l + MIN;
        }
        "grace-expires" => {
            let heal = t0 + g + g / 120;
            p.at(t0, Fault::MgrCrash(0));
            p.at(t0, Fault::MgrCrash(1));
            p.at(heal, Fault::MgrRestart(0));
            p.at(heal, Fault::MgrRestart(1));
            p.restart_after_stop_ms = Some(5 * MIN);
            p.liveness_at = Some(heal + l);
            p.expect = Expect::AllStopAtDeadline { from: t0 };
            needed = heal + l + MIN;
        }
        "failover" => {
            p.measure_failover = true;
            p.at(t0, Fault::MgrCrash(0));
            p.at(t0 + g / 10, Fault::MgrRestart(0));
            let hang = t0 + g / 5;
            p.at(hang, Fault::MgrHang(0));
            p.at(hang + g / 20, Fault::MgrUnhang(0));
            p.liveness_at = Some(hang + g / 20 + l);
            p.expect = Expect::NoGrace;
            needed = hang + g / 20 + l + MIN;
        }
        "split-brain" => {
            p.max_servers = Some((n as u64 * 2 / 3).max(1));
            p.flapping = true;
            p.comp_link = Link {
                delay_ms: 2,
                jitter_ms: 40,
                loss_ppm: 0,
                dup_ppm: 10_000,
            };
            p.restart_after_stop_ms = Some(3 * MIN);
            let every = (g / 20).max(10 * MIN);
            let mut t = t0;
            while t < t0 + g {
                p.at(
                    t,
                    Fault::CrashBurst {
                        from: 0,
                        to: n,
                        after_ms: 30 * SEC,
                        spread_ms: 300,
                    },
                );
                for c in 0..n {
                    p.at(t + SEC, Fault::AdminRelease(c));
                }
                t += every;
            }
            p.expect = Expect::Racing;
            needed = t0 + g;
        }
        "clock-skew" => {
            p.components = n.max(5);
            p.max_servers = Some(p.components as u64);
            p.mgr_offset_ms = [2 * HOUR as i64, -90 * SEC as i64];
            p.mgr_ppm = [50, -50];
            p.comp_offset_ms = 3 * DAY as i64;
            p.comp_ppm = 200;
            // c0: cut off, then its wall clock is set back 10 days: it must
            // still stop at its true deadline (T2, I2).
            p.at(
                t0,
                Fault::CompCut {
                    from: 0,
                    to: 1,
                    up: true,
                    down: true,
                },
            );
            p.at(
                t0 + HOUR.min(g / 10),
                Fault::ClockStep(Host::Comp(0), -10 * DAY as i64),
            );
            // c1: suspended for 2/5 of grace: it must keep running.
            p.at(t0, Fault::Suspend(1));
            p.at(t0 + 2 * g / 5, Fault::Resume(1));
            // c2: cut off, suspended across its deadline: it stops on resume.
            p.at(
                t0,
                Fault::CompCut {
                    from: 2,
                    to: 3,
                    up: true,
                    down: true,
                },
            );
            p.at(t0 + g / 5, Fault::Suspend(2));
            p.at(t0 + g + g / 10, Fault::Resume(2));
            // c3: cut off, wall clock set forward: grace can only get shorter.
            p.at(
                t0,
                Fault::CompCut {
                    from: 3,
                    to: 4,
                    up: true,
                    down: true,
                },
            );
            p.at(t0 + g / 5, Fault::ClockStep(Host::Comp(3), (g / 5) as i64));
            // Everybody else rides out a manager outage of 2/5 grace under skew.
            p.at(t0 + g / 5, Fault::MgrCrash(0));
            p.at(t0 + g / 5, Fault::MgrCrash(1));
            p.at(t0 + 3 * g / 5, Fault::MgrRestart(0));
            p.at(t0 + 3 * g / 5, Fault::MgrRestart(1));
            p.liveness_at = Some(t0 + 3 * g / 5 + l);
            p.expect = Expect::ClockSkew {
                stepped_back: 0,
                early: Some(3),
                late_resume: Some(2),
            };
            needed = t0 + g + g / 10 + 10 * MIN;
        }
        "storage-outage" => {
            p.at(t0, Fault::DbDown);
            p.at(t0 + 2 * g / 5, Fault::DbUp);
            let t1 = t0 + g / 2;
            p.at(t1, Fault::DbDown);
            p.at(t1 + 45 * SEC, Fault::DbUp);
            p.at(t1 + 10 * MIN, Fault::MgrDbCut(0, true));
            p.at(t1 + 10 * MIN + HOUR, Fault::MgrDbCut(0, false));
            p.liveness_at = Some(t1 + 10 * MIN + HOUR + l);
            p.expect = Expect::NoStops;
            needed = t1 + 10 * MIN + HOUR + l + MIN;
        }
        "restart-in-grace" => {
            let heal = t0 + 2 * g / 5;
            p.at(t0, Fault::MgrCrash(0));
            p.at(t0, Fault::MgrCrash(1));
            let half = n.div_ceil(2);
            for c in 0..half {
                p.at(t0 + g / 20, Fault::CompCrash(c));
                p.at(t0 + g / 20 + HOUR.min(g / 20), Fault::CompRestart(c));
            }
            p.at(heal, Fault::MgrRestart(0));
            p.at(heal, Fault::MgrRestart(1));
            p.liveness_at = Some(heal + l);
            p.expect = Expect::RestartInGrace {
                restarted: (0..half).collect(),
                heal,
            };
            needed = heal + l + MIN;
        }
        "crash-reclaim" => {
            p.components = n.max(6);
            let n = p.components;
            p.max_servers = Some(n as u64 - 2);
            p.late_starts = vec![(n - 2, 10 * MIN), (n - 1, 10 * MIN + 5 * SEC)];
            p.restart_after_stop_ms = Some(30 * MIN);
            let restarted_at = t0 + HOUR.min(g / 20);
            let released_at = t0 + (3 * HOUR).min(g / 7);
            p.at(t0, Fault::CompCrash(0));
            p.at(t0, Fault::CompCrash(1));
            p.at(restarted_at, Fault::CompRestart(1));
            p.at(t0 + (2 * HOUR).min(g / 10), Fault::CompCrash(2));
            p.at(released_at, Fault::AdminRelease(2));
            p.expect = Expect::CrashReclaim {
                crashed: 0,
                restarted: 1,
                restarted_at,
                released: 2,
                released_at,
                spares: vec![n - 2, n - 1],
            };
            needed = t0 + g + p.reclaim_margin_s * SEC + 50 * MIN;
        }
        "license-expiry" => {
            p.not_after_ms = t0;
            p.restart_after_stop_ms = Some(10 * MIN);
            // Once expired, the database host's clock is set back to before
            // not_after: the license stays expired (T3).
            p.at(
                t0 + g / 4,
                Fault::ClockStep(Host::Db, -((g / 4 + 2 * HOUR) as i64)),
            );
            let install = t0 + g + g / 24;
            p.at(
                install,
                Fault::InstallLicense {
                    not_after_ms: 365 * DAY,
                    not_before_ms: 0,
                },
            );
            p.liveness_at = Some(install + l);
            p.expect = Expect::LicenseExpiry { not_after: t0 };
            needed = install + l + MIN;
        }
        "proxy-pages" => {
            // A proxy or WAF answers its own pages (403, 401, 429, 502) for
            // stretches shorter than grace: nobody stops (A4, I9).
            let mut t = t0;
            for status in [403, 401, 429, 502] {
                let len = g / 10;
                p.at(
                    t,
                    Fault::ProxyAnswers {
                        status,
                        until_ms: t + len,
                    },
                );
                t += len + g / 20;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoStops;
            needed = t + l + MIN;
        }
        "manager-refusals" => {
            // A manager of another version refuses older agents' grants
            // with 400 bad_request while every instance was released: each
            // renewal is told 404, each re-grant 400, and no running
            // component stops (A4). Then the agents' token is rotated away
            // (401 unauthorized to everything): reported, nobody stops.
            let len = g / 10;
            p.at(
                t0,
                Fault::ManagersRefuse {
                    code: ErrorCode::BadRequest,
                    grants_only: true,
                    until_ms: t0 + len,
                },
            );
            for c in 0..n {
                p.at(t0 + SEC, Fault::AdminRelease(c));
            }
            let t1 = t0 + len + g / 20;
            p.at(
                t1,
                Fault::ManagersRefuse {
                    code: ErrorCode::Unauthorized,
                    grants_only: false,
                    until_ms: t1 + len,
                },
            );
            p.liveness_at = Some(t1 + len + l);
            p.expect = Expect::NoStops;
            needed = t1 + len + l + MIN;
        }
        "wall-steps" => {
            // Components' wall clocks step days ahead and back while the
            // managers answer: nobody stops (T2, I9).
            let mut t = t0;
            for c in 0..n {
                let step = if c % 2 == 0 {
                    3 * DAY as i64
                } else {
                    -(3 * DAY as i64)
                };
                p.at(t, Fault::ClockStep(Host::Comp(c), step));
                t += p.renew_every_s * SEC / 2;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoStops;
            needed = t + l + MIN;
        }
        "twins" => {
            // Two processes claim one instance: the older stops at its next
            // renewal, and with a supervisor they take turns (M3, I10).
            p.components = n.max(2);
            p.twins = vec![(0, 1)];
            p.restart_after_stop_ms = Some(g / 10);
            needed = t0 + g;
        }
        "storage-clock-steps" => {
            // The database host's clock steps ahead and back by hours while a
            // component is cut off in grace and a spare waits (M9, I1).
            p.components = n.max(3);
            p.max_servers = Some(p.components as u64 - 1);
            // The last one starts late: it is the spare that waits.
            p.late_starts.push((p.components - 1, t0 / 2));
            p.restart_after_stop_ms = Some(10 * MIN);
            cut_off(&mut p, 0, t0, true);
            p.at(t0 + g / 4, Fault::ClockStep(Host::Db, 6 * HOUR as i64));
            p.at(t0 + g / 2, Fault::ClockStep(Host::Db, -(3 * HOUR as i64)));
            heal_at(&mut p, 0, t0 + g * 3 / 4);
            p.liveness_at = Some(t0 + g + l);
            needed = t0 + g + l + MIN;
        }
        "db-failover-clock-ahead" => {
            // The database fails over to a standby whose clock runs an hour
            // ahead, while one component is cut off in grace and a spare
            // waits for a slot: no slot is reclaimed early (M9, I1).
            p.components = n.max(3);
            p.max_servers = Some(p.components as u64 - 1);
            // The last one starts late: it is the spare that waits.
            p.late_starts.push((p.components - 1, t0 / 2));
            p.restart_after_stop_ms = Some(10 * MIN);
            cut_off(&mut p, 0, t0, true);
            let fail = t0 + g / 3;
            p.at(fail, Fault::DbDown);
            p.at(fail + 5 * SEC, Fault::ClockStep(Host::Db, HOUR as i64));
            p.at(fail + 10 * SEC, Fault::DbUp);
            heal_at(&mut p, 0, t0 + g * 3 / 4);
            p.liveness_at = Some(t0 + g + l);
            needed = t0 + g + l + MIN;
        }
        "license-not-yet-valid" => {
            // An operator installs a renewed license whose not_before is still
            // hours ahead: managers answer 503 and keep every grant; nobody
            // stops, and all renew once it is valid (M7).
            let valid_from = t0 + g / 4;
            p.at(
                t0,
                Fault::InstallLicense {
                    not_after_ms: 400 * DAY,
                    not_before_ms: valid_from,
                },
            );
            p.liveness_at = Some(valid_from + l);
            p.expect = Expect::NoStops;
            needed = valid_from + l + MIN;
        }
        "slow-clock-reclaim" => {
            // A component whose clock runs slow (it measures grace longer in
            // true time) is cut off past grace while a spare waits for its
            // slot: the reclaim margin keeps the slot until it has stopped.
            p.components = n.max(3);
            p.max_servers = Some(p.components as u64 - 1);
            // The last one starts late: it is the spare that waits.
            p.late_starts.push((p.components - 1, t0 / 2));
            // Slow enough that grace lasts half the reclaim margin longer in
            // true time: within what the margin covers, so a correct manager
            // keeps the slot, and one without the margin does not.
            p.comp_ppm =
                -i64::try_from(p.reclaim_margin_s * 1_000_000 / p.grace_s / 2).unwrap_or(i64::MAX);
            p.restart_after_stop_ms = Some(10 * MIN);
            cut_off(&mut p, 0, t0, true);
            needed = t0 + g + p.reclaim_margin_s * SEC + HOUR;
        }
        "db-failover-clock-behind" => {
            // Twice, the database fails over to a host whose clock is behind
            // by twice grace, and one manager loses the database during the
            // failover, its last row stamped far ahead of the new clock: the
            // other serves alone within liveness, whichever of them served
            // (M6, M9, I4, I7).
            p.max_managers = 1;
            let mut t = t0;
            for m in 0..2 {
                p.at(t, Fault::DbDown);
                p.at(t + 2 * SEC, Fault::MgrDbCut(m, true));
                p.at(t + 5 * SEC, Fault::ClockStep(Host::Db, -2 * g as i64));
                p.at(t + 10 * SEC, Fault::DbUp);
                // Cut off for longer than grace: only the other can keep
                // the fleet licensed.
                p.at(t + g + g / 5, Fault::MgrDbCut(m, false));
                t += g + g / 4;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoStops;
            needed = t + l + MIN;
        }
        "vm-pause" => {
            // VM pauses stop the monotonic clock: c0, reachable, is paused for
            // longer than its lease and runs on after one renewal (T2, I9);
            // c1, cut off, is paused across its grace deadline and stops as
            // soon as it runs again (T2, I2).
            p.components = n.max(2);
            p.at(t0, Fault::Pause(0));
            p.at(t0 + 2 * g / 5, Fault::Resume(0));
            cut_off(&mut p, 1, t0, true);
            p.at(t0 + g / 2, Fault::Pause(1));
            p.at(t0 + g + g / 10, Fault::Resume(1));
            heal_at(&mut p, 1, t0 + g + g / 5);
            p.restart_after_stop_ms = Some(5 * MIN);
            p.liveness_at = Some(t0 + g + g / 5 + l);
            needed = t0 + g + g / 5 + l + MIN;
        }
        "pause-in-flight" => {
            // c0 restarts and is paused, VM-style, with its first grant
            // request in flight for twice the lease. Its kernel keeps the
            // answer and the driver reads it when the host runs again: by
            // the wall clock the lease has passed, so the agent asks again
            // instead of starting on it (A1, T1, T2).
            p.components = n.max(2);
            let ttl = p.lease_ttl_s * SEC;
            let at = t0 + MIN;
            p.at(t0, Fault::CompCrash(0));
            p.at(at, Fault::CompRestart(0));
            p.at(at + 1, Fault::Pause(0));
            p.at(at + 2 * ttl, Fault::Resume(0));
            p.liveness_at = Some(at + 2 * ttl + l);
            p.expect = Expect::NoStops;
            needed = at + 2 * ttl + l + MIN;
        }
        "pause-in-outage" => {
            // c0, cut off from every manager, is paused, VM-style, while its
            // lease is fresh, and runs again when the wall clock says less
            // than a day of grace is left: it confirms once, enters grace,
            // tells its host at once, and recovers when the cut heals (T2,
            // A3).
            p.components = n.max(2);
            cut_off(&mut p, 0, t0, true);
            p.at(t0 + SEC, Fault::Pause(0));
            p.at(t0 + g - g / 10, Fault::Resume(0));
            heal_at(&mut p, 0, t0 + g - g / 20);
            p.liveness_at = Some(t0 + g - g / 20 + l);
            p.expect = Expect::NoStops;
            needed = t0 + g + l + MIN;
        }
        "step-windows-close" => {
            // The database clock steps ahead by hours. Long after every
            // deadline the step held back has passed, c0 crashes for good:
            // its slot is freed at its own deadline, not a step later (M2,
            // M9).
            p.components = n.max(2);
            let step = 6 * HOUR;
            let hold = g + p.reclaim_margin_s * SEC;
            p.at(t0, Fault::ClockStep(Host::Db, step as i64));
            let crash = t0 + hold + 2 * step + HOUR;
            p.at(crash, Fault::CompCrash(0));
            needed = crash + hold + step + 2 * HOUR;
        }
        "node-id-clash" => {
            // Both manager processes were given one node id: one serves at a
            // time, and the other takes over only once the first is dead,
            // through crashes, hangs and restarts (M6, I7).
            p.node_clash = true;
            let every = (g / 10).max(10 * MIN);
            let mut t = t0;
            for m in [0, 1, 0, 1] {
                p.at(t, Fault::MgrCrash(m));
                p.at(t + every / 2, Fault::MgrRestart(m));
                p.at(t + every, Fault::MgrHang(1 - m));
                p.at(t + every + 30 * SEC, Fault::MgrUnhang(1 - m));
                t += 2 * every;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoStops;
            needed = t + l + MIN;
        }
        "racing-managers" => {
            // One manager licensed; both processes start and restart at the
            // same instants, so their first heartbeats race (M6, I7).
            p.max_managers = 1;
            let every = (g / 10).max(10 * MIN);
            let mut t = t0;
            for _ in 0..4 {
                p.at(t, Fault::MgrCrash(0));
                p.at(t, Fault::MgrCrash(1));
                p.at(t + MIN, Fault::MgrRestart(0));
                p.at(t + MIN, Fault::MgrRestart(1));
                t += every;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoStops;
            needed = t + l + MIN;
        }
        "direct-urls" => {
            // No balancer: each agent holds both URLs (A6). It moves on from
            // a dead or hung manager within one request, stays with the one
            // that answered, and goes back when that one dies in turn, so
            // no lease runs out while a manager answers.
            p.direct = true;
            let every = (g / 10).max(10 * MIN);
            let mut t = t0;
            for m in [0, 1, 0, 1] {
                p.at(t, Fault::MgrCrash(m));
                p.at(t + every / 2, Fault::MgrRestart(m));
                p.at(t + every, Fault::MgrHang(m));
                p.at(t + every * 3 / 2, Fault::MgrUnhang(m));
                t += 2 * every;
            }
            p.liveness_at = Some(t + l);
            p.expect = Expect::NoGrace;
            needed = t + l + MIN;
        }
        "clean-stop" => {
            // One slot short: the last component waits, refused for the
            // limit, until the host of the first stops it; its release
            // frees the slot at once, long before a lease would run out
            // (A5). The first comes back later and is the one refused.
            p.components = n.max(2);
            let spare = p.components - 1;
            p.max_servers = Some(spare as u64);
            p.late_starts.push((spare, t0 / 2));
            // A refused first grant stops the spare (A4); its supervisor
            // tries again every minute or so.
            p.restart_after_stop_ms = Some(MIN);
            p.at(t0, Fault::CompStop(0));
            p.at(t0 + g / 10, Fault::CompRestart(0));
            p.liveness_at = Some(t0 + g / 10 + l);
            p.expect = Expect::CleanStop {
                stopped: 0,
                spare,
                at: t0,
                within: 2 * MIN,
            };
            needed = t0 + g / 10 + l + MIN;
        }
        _ => return None,
    }
    if days == 0 {
        p.end_ms = needed;
    }
    Some(p)
}

/// Simulated time a named scenario needs at `scale` (for warnings).
pub fn needed_ms(name: &str, scale: Scale) -> Option<u64> {
    named(name, 0, 6, 0, scale).map(|p| p.end_ms)
}

/// How many of [`NAMES`] the swarm draws from. The ones after are targeted
/// arrangements of faults that chaos draws too (pauses, storage clock
/// steps, crashes); they stay out of the draw so that every seed keeps the
/// plan it had when it found a fault.
const SWARM_NAMED: usize = 23;

/// The swarm: scenario and fault parameters drawn from the seed alone.
pub fn swarm(seed: u64) -> Plan {
    let mut r = SimRng::new(seed ^ 0x5EED_5EED_5EED_5EED);
    let grace_s = *r.pick(&[3600, 2 * 3600, 4 * 3600]);
    let renew = (grace_s / 120).clamp(30, 300);
    let scale = Scale {
        grace_s,
        renew_every_s: renew,
        lease_ttl_s: renew * 3,
    };
    let components = usize::try_from(r.range(2, 10)).unwrap_or(2);
    let pick = r.below(SWARM_NAMED as u64 + 3);
    let mut p = if let Some(name) = NAMES[..SWARM_NAMED].get(usize::try_from(pick).unwrap_or(99)) {
        let mut p = named(name, seed, components, 0, scale).unwrap_or_else(|| unreachable!());
        p.scenario = format!("swarm:{name}");
        p
    } else {
        chaos(seed, components, scale, &mut r)
    };
    p.seed = seed;
    p.stop_on_violation = true;
    p
}

/// Cuts component `c` off from `t0` on: its requests, and its answers too
/// if `down`.
pub(crate) fn cut_off(p: &mut Plan, c: usize, t0: u64, down: bool) {
    p.at(
        t0,
        Fault::CompCut {
            from: c,
            to: c + 1,
            up: true,
            down,
        },
    );
}

/// Ends the cut of component `c` at `at`.
pub(crate) fn heal_at(p: &mut Plan, c: usize, at: u64) {
    p.at(
        at,
        Fault::CompCut {
            from: c,
            to: c + 1,
            up: false,
            down: false,
        },
    );
}
