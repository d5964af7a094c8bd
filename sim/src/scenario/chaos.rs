//! The swarm's chaos draw: random faults of every kind anywhere in the
//! run, all healed before the liveness check.

use super::Scale;
use crate::plan::{DAY, Fault, HOUR, Host, Link, MIN, Plan, SEC};
use crate::rng::SimRng;
use tenure_core::ErrorCode;

/// Random faults anywhere, all healed before the liveness check.
pub(super) fn chaos(seed: u64, components: usize, scale: Scale, r: &mut SimRng) -> Plan {
    let mut p = Plan::base("swarm:chaos", seed, components, 1);
    p.grace_s = scale.grace_s;
    p.renew_every_s = scale.renew_every_s;
    p.lease_ttl_s = scale.lease_ttl_s;
    let g = p.grace_ms();
    let t0 = g / 5;
    let heal = t0 + g + g / 5;
    let n = components;
    p.max_servers = Some(r.range(1, n as u64));
    p.max_managers = u32::try_from(r.range(1, 2)).unwrap_or(2);
    p.restart_after_stop_ms = Some(r.range(1, 20) * MIN);
    p.flapping = r.below(4) == 0;
    p.comp_link = Link {
        delay_ms: r.range(0, 20),
        jitter_ms: r.range(0, 100),
        loss_ppm: u32::try_from(r.range(0, 20_000)).unwrap_or(0),
        dup_ppm: u32::try_from(r.range(0, 20_000)).unwrap_or(0),
    };
    for m in 0..2 {
        p.mgr_link[m] = Link {
            delay_ms: r.range(0, 5),
            jitter_ms: r.range(0, 10),
            loss_ppm: u32::try_from(r.range(0, 5_000)).unwrap_or(0),
            dup_ppm: 0,
        };
        p.mgr_offset_ms[m] = r.range_i(-3_600_000, 3_600_000);
        p.mgr_ppm[m] = r.range_i(-100, 100);
    }
    p.comp_offset_ms = r.range_i(0, 3 * DAY as i64);
    p.comp_ppm = r.range_i(0, 300);
    p.db_ppm = r.range_i(-50, 50);
    if n >= 2 && r.below(4) == 0 {
        p.twins = vec![(0, n - 1)];
    }
    p.node_clash = r.below(8) == 0;
    let faults = r.range(1, 12);
    let span = g + g / 10;
    for _ in 0..faults {
        let at = t0 + r.below(span);
        let len = r.range(SEC, g * 6 / 5);
        let end = (at + len).min(heal);
        let c = usize::try_from(r.below(n as u64)).unwrap_or(0);
        let m = usize::try_from(r.below(2)).unwrap_or(0);
        match r.below(16) {
            0 => {
                p.at(at, Fault::MgrCrash(m));
                p.at(end, Fault::MgrRestart(m));
            }
            1 => {
                p.at(at, Fault::MgrHang(m));
                p.at(end, Fault::MgrUnhang(m));
            }
            2 => {
                p.at(at, Fault::DbDown);
                p.at(end, Fault::DbUp);
            }
            3 => {
                p.at(at, Fault::MgrDbCut(m, true));
                p.at(end, Fault::MgrDbCut(m, false));
            }
            4 => {
                let (to_mgr, to_lb) = match r.below(3) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (true, true),
                };
                p.at(at, Fault::LbCut { m, to_mgr, to_lb });
                p.at(
                    end,
                    Fault::LbCut {
                        m,
                        to_mgr: false,
                        to_lb: false,
                    },
                );
            }
            5 => {
                let to = (c + 1 + usize::try_from(r.below(n as u64)).unwrap_or(0)).min(n);
                let (up, down) = match r.below(3) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (true, true),
                };
                p.at(
                    at,
                    Fault::CompCut {
                        from: c,
                        to,
                        up,
                        down,
                    },
                );
                p.at(
                    end,
                    Fault::CompCut {
                        from: c,
                        to,
                        up: false,
                        down: false,
                    },
                );
            }
            6 => {
                p.at(at, Fault::CompCrash(c));
                p.at(end.min(at + r.range(SEC, 2 * HOUR)), Fault::CompRestart(c));
            }
            7 => {
                let pause = if r.below(2) == 0 {
                    Fault::Suspend(c)
                } else {
                    Fault::Pause(c)
                };
                p.at(at, pause);
                p.at(end, Fault::Resume(c));
            }
            8 => {
                let step = r.range_i(-10 * DAY as i64, DAY as i64);
                p.at(at, Fault::ClockStep(Host::Comp(c), step));
            }
            9 => {
                let step = r.range_i(-1000, 2 * HOUR as i64);
                p.at(at, Fault::ClockStep(Host::Mgr(m), step));
            }
            10 => {
                if r.below(2) == 0 {
                    p.at(at, Fault::AdminRelease(c));
                } else {
                    p.at(at, Fault::AdminRevoke(c));
                }
            }
            11 => {
                let status = *r.pick(&[403, 401, 429, 502]);
                p.at(
                    at,
                    Fault::ProxyAnswers {
                        status,
                        until_ms: end.min(at + g / 2),
                    },
                );
            }
            12 => {
                let step = r.range_i(-(DAY as i64), DAY as i64);
                p.at(at, Fault::ClockStep(Host::Db, step));
            }
            13 => {
                // A database failover to a host whose clock is off.
                p.at(at, Fault::DbDown);
                let step = r.range_i(-(2 * HOUR as i64), 2 * HOUR as i64);
                p.at(at + SEC, Fault::ClockStep(Host::Db, step));
                p.at(at + r.range(2 * SEC, 60 * SEC), Fault::DbUp);
            }
            14 => {
                // A renewed license not valid for a while (shorter than grace).
                let valid_from = at + r.range(MIN, g / 3);
                p.at(
                    at,
                    Fault::InstallLicense {
                        not_after_ms: 400 * DAY,
                        not_before_ms: valid_from.min(heal),
                    },
                );
            }
            _ => {
                p.at(
                    at,
                    Fault::CrashBurst {
                        from: 0,
                        to: n,
                        after_ms: r.range(0, 60) * SEC,
                        spread_ms: r.range(0, 2000),
                    },
                );
            }
        }
    }
    // Drawn last, so the draws above stay those of the seed without it.
    p.direct = r.below(4) == 0;
    if r.below(3) == 0 {
        let c = usize::try_from(r.below(n as u64)).unwrap_or(0);
        p.at(t0 + r.below(g), Fault::CompStop(c));
    }
    // Drawn after those, for the same reason.
    if r.below(4) == 0 {
        // A step of the database's clock just beyond what drift explains.
        let size = r.range(4 * MIN, 6 * MIN + MIN / 2);
        let size = i64::try_from(size).unwrap_or(0) * if r.below(2) == 0 { 1 } else { -1 };
        p.at(t0 + r.below(g), Fault::ClockStep(Host::Db, size));
    }
    if r.below(6) == 0 {
        let at = t0 + r.below(g);
        let (code, grants_only) = *r.pick(&[
            (ErrorCode::Unauthorized, false),
            (ErrorCode::BadRequest, true),
        ]);
        p.at(
            at,
            Fault::ManagersRefuse {
                code,
                grants_only,
                until_ms: (at + r.range(MIN, g / 3)).min(heal),
            },
        );
    }
    if r.below(4) == 0 {
        // A host with more cores than the license allows one server.
        let c = usize::try_from(r.below(n as u64)).unwrap_or(0);
        p.max_cores_per_server = Some(u64::from(p.cores));
        p.host_cores = vec![(c, p.cores * 2)];
    }
    // Heal everything, then liveness.
    for m in 0..2 {
        p.at(heal, Fault::MgrRestart(m));
        p.at(heal, Fault::MgrDbCut(m, false));
        p.at(
            heal,
            Fault::LbCut {
                m,
                to_mgr: false,
                to_lb: false,
            },
        );
    }
    p.at(heal, Fault::DbUp);
    p.at(
        heal,
        Fault::CompCut {
            from: 0,
            to: n,
            up: false,
            down: false,
        },
    );
    for c in 0..n {
        p.at(heal, Fault::Resume(c));
        p.at(heal, Fault::CompRestart(c));
    }
    let l = HOUR.max(4 * p.renew_every_s * SEC);
    p.liveness_at = Some(heal + l);
    p.end_ms = heal + l + MIN;
    p
}
