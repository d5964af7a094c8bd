use super::Backend;
use super::fixtures::*;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tenure_core::health::NotServing;
use tenure_core::manager::ManagerConfig;
use tenure_core::wire::EndReason;
use tenure_core::{ErrorCode, UnixMillis};
use tenure_storage::{InstallError, InstallPolicy, Installed, Keyed, Manager, ManagerError, Store};

const DAY_MS: i64 = 86_400_000;

pub(super) fn random() -> [u8; 16] {
    // Distinct ids per call; the tests need uniqueness, not secrecy.
    static N: AtomicU8 = AtomicU8::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let mut b = [n; 16];
    b[0] = std::process::id() as u8;
    b[1..9].copy_from_slice(
        &u64::from(n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .to_le_bytes(),
    );
    b
}

pub(super) fn now<S: Store>(m: &Manager<S>) -> UnixMillis {
    m.read(|_, now| Ok(now)).expect("storage clock")
}

fn code<T: std::fmt::Debug>(r: Result<T, ManagerError>) -> ErrorCode {
    r.expect_err("expected a denial").code()
}

/// Installs a license for pool production/vdp with the given limits.
pub(super) fn setup<B: Backend>(
    b: &B,
    cfg: ManagerConfig,
    grace_s: u64,
    limits: tenure_core::license::Limits,
) -> Manager<B::S> {
    let m = b.manager(cfg);
    let t = now(&m);
    let lic = license(
        "lic-1",
        t,
        t,
        UnixMillis(t.0 + 30 * DAY_MS),
        grace_s,
        2,
        &[("production", "vdp", limits)],
    );
    let out = m.install_license(&signed(&lic), InstallPolicy::Replace);
    assert!(matches!(out, Ok(Installed::Installed { .. })), "{out:?}");
    m
}

fn usage_reasons<S: Store>(m: &Manager<S>) -> Vec<EndReason> {
    m.read(|tx, _| tx.usage_since(UnixMillis(0), 1000))
        .expect("usage")
        .into_iter()
        .map(|u| u.end_reason)
        .collect()
}

pub fn grant_renew_release<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let before = now(&m);
    let g = m
        .grant(&request("vdp", "Host-A", 9999, 8), random())
        .expect("grant");
    assert_eq!(
        (g.lease_ttl_s, g.renew_every_s, g.grace_period_s),
        (900, 300, 432_000)
    );
    assert_eq!(g.license_id, "lic-1");
    assert!(g.license_expires_in_s > 29 * 86_400);
    assert!(g.server_time_ms >= before.0);
    let held = m
        .read(|tx, _| tx.grant(g.grant_id))
        .expect("read")
        .expect("held");
    assert_eq!(held.instance.hostname.as_str(), "host-a");
    assert_eq!(
        held.held_until.0,
        held.last_renewed.0 + (432_000 + 600) * 1000
    );
    let client = UnixMillis(now(&m).0 + 3_600_000);
    let r = m.renew(g.grant_id, Some(client)).expect("renew");
    assert_eq!(r.grant_id, g.grant_id);
    let held = m
        .read(|tx, _| tx.grant(g.grant_id))
        .expect("read")
        .expect("held");
    let skew = held.client_skew_ms.expect("skew recorded");
    assert!((3_500_000..=3_600_000).contains(&skew), "skew {skew}");
    m.release(g.grant_id).expect("release");
    assert_eq!(code(m.renew(g.grant_id, None)), ErrorCode::UnknownGrant);
    assert_eq!(code(m.release(g.grant_id)), ErrorCode::UnknownGrant);
    assert_eq!(usage_reasons(&m), [EndReason::Released]);
    let row = &m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage")[0];
    assert_eq!(row.facts.cores, 8);
    assert_eq!(row.facts.version.as_deref(), Some("1.0.0"));
    assert!(row.last_request_ms >= row.first_request_ms && row.ended_ms >= row.last_request_ms);
}

pub fn limits_are_enforced_and_named<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(Some(2), Some(16), Some(20)),
    );
    assert_eq!(
        code(m.grant(&request("vdp", "a", 1, 17), random())),
        ErrorCode::CoresExceeded
    );
    m.grant(&request("vdp", "a", 1, 8), random())
        .expect("first");
    assert_eq!(
        code(m.grant(&request("vdp", "b", 1, 13), random())),
        ErrorCode::CoresExceeded
    );
    m.grant(&request("vdp", "b", 1, 12), random())
        .expect("second");
    let e = m
        .grant(&request("vdp", "c", 1, 1), random())
        .expect_err("third");
    assert_eq!(e.code(), ErrorCode::ServersExceeded);
    assert!(e.to_string().contains("max_servers is 2"), "{e}");
    assert_eq!(
        code(m.grant(&request("other", "a", 1, 1), random())),
        ErrorCode::ProductNotLicensed
    );
    let totals = m.read(|tx, now| tx.pool_totals(now)).expect("totals");
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (totals[0].totals.servers, totals[0].totals.total_cores),
        (2, 20)
    );
    // Both were renewed before the next millisecond, none an hour ago.
    let stale = m
        .read(|tx, now| tx.pool_in_grace(now, UnixMillis(now.0 + 1)))
        .expect("in grace");
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].pool.product.as_str(), stale[0].in_grace),
        ("vdp", 2)
    );
    let stale = m
        .read(|tx, now| tx.pool_in_grace(now, UnixMillis(now.0 - 3_600_000)))
        .expect("in grace");
    assert!(stale.is_empty(), "{stale:?}");
}

pub fn restart_replaces<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(Some(1), None, None),
    );
    let first = m
        .grant(&request("vdp", "a", 1, 4), random())
        .expect("first");
    let second = m
        .grant(&request("vdp", "A", 1, 4), random())
        .expect("restart");
    assert_ne!(first.grant_id, second.grant_id);
    assert_replaced(m.renew(first.grant_id, None), "a", 1);
    m.renew(second.grant_id, None).expect("new grant renews");
    assert_eq!(m.read(|tx, _| tx.held_grants()).expect("held").len(), 1);
    assert_eq!(usage_reasons(&m), [EndReason::Replaced]);
}

/// M3 denial: 403 `replaced`, its message naming the instance.
fn assert_replaced<T: std::fmt::Debug>(r: Result<T, ManagerError>, host: &str, port: u16) {
    let e = r.expect_err("a replaced grant does not renew");
    assert_eq!(e.code(), ErrorCode::Replaced, "{e}");
    let named = format!("environment=production product=vdp hostname={host} port={port}");
    assert!(e.to_string().contains(&named), "{e}");
}

/// M3 and I10: two processes claim one instance. The second's grant
/// replaces the first's; every renewal of the first answers `replaced`
/// (final: it never turns into `unknown_grant`, which would make it grant
/// again and replace the newer one in turn), the newer one renews, and the
/// replaced grant's release is `unknown_grant`. One usage row, `replaced`,
/// whose last request is the first process's last renewal.
pub fn twins_older_hears_replaced<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(Some(1), None, None),
    );
    // Each twin may reach another manager on the same storage.
    let other = b.manager(ManagerConfig::default());
    let older = m
        .grant(&request("vdp", "twin", 7, 4), random())
        .expect("older twin");
    let renewed = m.renew(older.grant_id, None).expect("renews while alone");
    let newer = other
        .grant(&request("vdp", "twin", 7, 4), random())
        .expect("newer twin replaces");
    for mgr in [&m, &other, &m] {
        assert_replaced(mgr.renew(older.grant_id, None), "twin", 7);
    }
    other.renew(newer.grant_id, None).expect("newer renews");
    m.renew(newer.grant_id, None).expect("on either manager");
    assert_eq!(code(m.release(older.grant_id)), ErrorCode::UnknownGrant);
    assert_replaced(m.renew(older.grant_id, None), "twin", 7);
    let held = m.read(|tx, _| tx.held_grants()).expect("held");
    assert_eq!(
        held.iter().map(|g| g.grant_id).collect::<Vec<_>>(),
        [newer.grant_id]
    );
    let rows = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].grant_id, older.grant_id);
    assert_eq!(rows[0].end_reason, EndReason::Replaced);
    assert_eq!(rows[0].last_request_ms, renewed.server_time_ms);
    assert_eq!(rows[0].ended_ms, newer.server_time_ms);
}

/// M7: a stored license whose `not_before` is ahead of the storage clock
/// (installed from a peer, or the storage clock set back) is not served:
/// grants and renewals answer 503 `license_not_yet_valid`, held grants stay
/// held and leave no usage row, and the heartbeat says why. A valid license
/// brings back the same grants.
pub fn license_not_yet_valid_keeps_grants<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let g = m
        .grant(&request("vdp", "a", 1, 4), random())
        .expect("grant");
    let t = now(&m);
    let mut future = license(
        "lic-future",
        UnixMillis(t.0 + 1000),
        t,
        UnixMillis(t.0 + 30 * DAY_MS),
        432_000,
        2,
        &[("production", "vdp", limits(None, None, None))],
    );
    future.not_before = UnixMillis(t.0 + DAY_MS);
    assert_eq!(
        m.install_license(&signed(&future), InstallPolicy::IfNewer),
        Ok(Installed::Installed {
            license_id: "lic-future".into()
        })
    );
    let e = m.renew(g.grant_id, None).expect_err("not yet valid");
    assert_eq!(e.code(), ErrorCode::LicenseNotYetValid, "{e}");
    assert_eq!(e.code().http_status(), 503);
    assert!(e.to_string().contains("not valid before"), "{e}");
    assert_eq!(
        code(m.grant(&request("vdp", "b", 1, 4), random())),
        ErrorCode::LicenseNotYetValid
    );
    assert_eq!(
        code(m.grant(&request("vdp", "a", 1, 4), random())),
        ErrorCode::LicenseNotYetValid,
        "a restart is refused too, and does not replace"
    );
    let held = m.read(|tx, _| tx.held_grants()).expect("held");
    assert_eq!(
        held.iter().map(|h| h.grant_id).collect::<Vec<_>>(),
        [g.grant_id]
    );
    assert!(usage_reasons(&m).is_empty(), "held grants are not ended");
    let hb = m
        .heartbeat("m1", &|| UnixMillis(0), Duration::from_secs(10))
        .expect("heartbeat");
    assert_eq!(
        hb.serving,
        Err(NotServing::LicenseNotYetValid {
            not_before: future.not_before
        })
    );
    let valid = license(
        "lic-2",
        UnixMillis(t.0 + 2000),
        t,
        UnixMillis(t.0 + 30 * DAY_MS),
        432_000,
        2,
        &[("production", "vdp", limits(None, None, None))],
    );
    m.install_license(&signed(&valid), InstallPolicy::Replace)
        .expect("install a valid one");
    let r = m.renew(g.grant_id, None).expect("the kept grant renews");
    assert_eq!(r.license_id, "lic-2");
}

/// The admin listing's pages, in id order, together hold exactly the held
/// grants, on every store.
pub fn listing_pages_cover_the_held_grants<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    for port in 1..=7 {
        m.grant(&request("vdp", "paged", port, 1), random())
            .expect("grant");
    }
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = m.read(|tx, _| tx.grants_after(after, 3)).expect("page");
        let full = page.len() == 3;
        after = page.last().map(|g| g.grant_id);
        paged.extend(page);
        if !full {
            break;
        }
    }
    let ids: Vec<_> = paged.iter().map(|g| g.grant_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
    paged.sort_by(|a, b| a.instance.cmp(&b.instance));
    assert_eq!(paged, m.read(|tx, _| tx.held_grants()).expect("held"));
    assert_eq!(paged.len(), 7);
}

pub fn revoke_and_admin_release<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(Some(2), None, None),
    );
    let a = m.grant(&request("vdp", "a", 1, 4), random()).expect("a");
    let b_grant = m.grant(&request("vdp", "b", 1, 4), random()).expect("b");
    m.revoke(a.grant_id).expect("revoke");
    assert_eq!(code(m.renew(a.grant_id, None)), ErrorCode::Revoked);
    assert_eq!(code(m.revoke(a.grant_id)), ErrorCode::NotFound);
    let b_instance = request("vdp", "B", 1, 4).instance;
    m.admin_release(&b_instance).expect("admin release");
    assert_eq!(code(m.admin_release(&b_instance)), ErrorCode::NotFound);
    // The component of an admin-released grant hears what it heard before
    // admin releases had their own reason: its grant is unknown.
    assert_eq!(
        code(m.renew(b_grant.grant_id, None)),
        ErrorCode::UnknownGrant
    );
    assert_eq!(
        usage_reasons(&m),
        [EndReason::Revoked, EndReason::AdminReleased]
    );
    let rows = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage");
    for r in &rows {
        assert_eq!(r.license_id.as_deref(), Some("lic-1"), "{r:?}");
    }
    assert!(m.read(|tx, _| tx.held_grants()).expect("held").is_empty());
}

/// M1 and M5 when renewals and grants race at a grant's deadline, on two
/// managers with group commit (on a database, each has its own connection
/// pool, as two processes would): renewals against grants that reclaim the
/// expiring grant. With one server allowed, a grant succeeds only once the
/// old grant's deadline has passed after its last successful renewal, and
/// no renewal succeeds after.
pub fn renewals_racing_reclaims_never_over_use<B: Backend>(b: &B) {
    const GRACE_MS: i64 = 1_000;
    let cfg = ManagerConfig {
        reclaim_margin: Duration::ZERO,
        ..ManagerConfig::default()
    };
    let m = setup(b, cfg, 1, limits(Some(1), None, None)).with_group_commit(16);
    let other = b.manager(cfg).with_group_commit(16);
    let managers = [&m, &other];
    for round in 0..5 {
        for g in m.read(|tx, _| tx.held_grants()).expect("held") {
            m.release(g.grant_id).expect("clean up");
        }
        let a = m
            .grant(&request("vdp", &format!("a{round}"), 1, 1), random())
            .expect("a");
        b.advance(Duration::from_millis(990));
        let (renewed, granted) = std::thread::scope(|s| {
            let racers: Vec<_> = (0..8usize)
                .map(|i| {
                    let m = managers[i % 2];
                    let host = format!("b{round}-{i}");
                    s.spawn(move || {
                        let renews = i % 4 < 2;
                        let times = (0..10)
                            .filter_map(|_| {
                                std::thread::sleep(Duration::from_millis(3));
                                let (answer, denial) = if renews {
                                    (m.renew(a.grant_id, None), ErrorCode::UnknownGrant)
                                } else {
                                    let req = request("vdp", &host, 1, 1);
                                    (m.grant(&req, random()), ErrorCode::ServersExceeded)
                                };
                                match answer {
                                    Ok(r) => Some(r.server_time_ms),
                                    Err(e) => {
                                        assert_eq!(e.code(), denial, "{e}");
                                        None
                                    }
                                }
                            })
                            .collect::<Vec<i64>>();
                        (renews, times)
                    })
                })
                .collect();
            let mut out = (Vec::new(), Vec::new());
            for r in racers {
                let (renews, times) = r.join().expect("racer");
                if renews { &mut out.0 } else { &mut out.1 }.extend(times);
            }
            out
        });
        let held = m.read(|tx, _| tx.held_grants()).expect("held");
        assert_eq!(held.len(), 1, "round {round}: {held:?}");
        // The first grant decides; a later one of the same b instance
        // replaces it (M3), so still one is held.
        if let Some(first) = granted.iter().min() {
            let last_renewal = renewed.iter().copied().max().unwrap_or(a.server_time_ms);
            assert!(
                last_renewal + GRACE_MS <= *first,
                "round {round}: a granted at {first} while a was held until {} \
                 (renewed at {renewed:?})",
                last_renewal + GRACE_MS
            );
        } else {
            assert_eq!(held[0].grant_id, a.grant_id, "round {round}");
        }
    }
}

pub fn reclaim_exactly_at_deadline<B: Backend>(b: &B) {
    let cfg = ManagerConfig {
        reclaim_margin: Duration::ZERO,
        ..ManagerConfig::default()
    };
    let m = setup(b, cfg, 1, limits(Some(1), None, None));
    let a = m.grant(&request("vdp", "a", 1, 4), random()).expect("a");
    let held = m
        .read(|tx, _| tx.grant(a.grant_id))
        .expect("read")
        .expect("held");
    assert_eq!(held.held_until.0, held.last_renewed.0 + 1000);
    assert_eq!(
        code(m.grant(&request("vdp", "b", 1, 4), random())),
        ErrorCode::ServersExceeded
    );
    assert_eq!(
        m.sweep(100).expect("sweep"),
        0,
        "nothing is reclaimed before the deadline"
    );
    b.advance(Duration::from_millis(1100));
    let b_grant = m
        .grant(&request("vdp", "b", 1, 4), random())
        .expect("slot free after deadline");
    let rows = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].end_reason, EndReason::GraceExceeded);
    assert!(
        rows[0].ended_ms >= held.held_until.0,
        "reclaimed before its deadline"
    );
    // The sweep path: b's deadline passes with nobody asking for its pool.
    b.advance(Duration::from_millis(1100));
    assert_eq!(m.sweep(100).expect("sweep"), 1);
    assert_eq!(
        code(m.renew(b_grant.grant_id, None)),
        ErrorCode::UnknownGrant
    );
}

pub fn license_expiry<B: Backend>(b: &B) {
    let m = b.manager(ManagerConfig::default());
    let t = now(&m);
    let lic = license(
        "short",
        t,
        t,
        UnixMillis(t.0 + 1500),
        432_000,
        2,
        &[("production", "vdp", limits(None, None, None))],
    );
    m.install_license(&signed(&lic), InstallPolicy::IfNewer)
        .expect("install");
    let g = m
        .grant(&request("vdp", "a", 1, 4), random())
        .expect("grant before expiry");
    assert!(g.license_expires_in_s <= 1);
    b.advance(Duration::from_millis(1600));
    assert_eq!(code(m.renew(g.grant_id, None)), ErrorCode::LicenseExpired);
    assert_eq!(code(m.renew(g.grant_id, None)), ErrorCode::LicenseExpired);
    assert_eq!(
        code(m.grant(&request("vdp", "b", 1, 4), random())),
        ErrorCode::LicenseExpired
    );
    assert_eq!(usage_reasons(&m), [EndReason::LicenseExpired]);
    let hb = m
        .heartbeat("m1", &|| UnixMillis(0), Duration::from_secs(10))
        .expect("heartbeat");
    assert_eq!(hb.serving, Err(NotServing::LicenseExpired));
}

pub fn license_install_rules<B: Backend>(b: &B) {
    let m = b.manager(ManagerConfig::default());
    let t = now(&m);
    let until = UnixMillis(t.0 + 30 * DAY_MS);
    let pools = [("production", "vdp", limits(Some(1), None, None))];
    let v1 = license("v1", UnixMillis(t.0 - 2000), t, until, 432_000, 2, &pools);
    let v0 = license("v0", UnixMillis(t.0 - 5000), t, until, 432_000, 2, &pools);
    let v2 = license("v2", UnixMillis(t.0 - 1000), t, until, 432_000, 2, &pools);
    assert_eq!(
        m.install_license(&signed(&v1), InstallPolicy::IfNewer),
        Ok(Installed::Installed {
            license_id: "v1".into()
        })
    );
    assert_eq!(
        m.install_license(&signed(&v0), InstallPolicy::IfNewer),
        Ok(Installed::KeptStored {
            license_id: "v1".into()
        })
    );
    assert_eq!(m.license().expect("license").license_id, "v1");
    let mut tampered = signed(&v2).into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    let bad = String::from_utf8_lossy(&tampered).into_owned();
    assert!(matches!(
        m.install_license(&bad, InstallPolicy::Replace),
        Err(InstallError::Invalid(_))
    ));
    assert_eq!(
        m.license().expect("license").license_id,
        "v1",
        "invalid refused, old kept"
    );
    assert_eq!(
        m.install_license(&signed(&v2), InstallPolicy::IfNewer),
        Ok(Installed::Installed {
            license_id: "v2".into()
        })
    );
    let mut future = v0.clone();
    future.not_before = UnixMillis(t.0 + DAY_MS);
    assert!(matches!(
        m.install_license(&signed(&future), InstallPolicy::Replace),
        Err(InstallError::NotUsable(_))
    ));
    assert_eq!(
        m.install_license(&signed(&v0), InstallPolicy::Replace),
        Ok(Installed::Installed {
            license_id: "v0".into()
        })
    );
    // Every manager on the storage sees the change at once.
    let other = b.manager(ManagerConfig::default());
    assert_eq!(other.license().expect("license").license_id, "v0");
}

pub fn manager_registry<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let liveness = Duration::from_secs(1);
    let clock = || UnixMillis(0);
    let a = m.heartbeat("a", &clock, liveness).expect("a");
    assert_eq!(a.serving, Ok(()));
    assert!(
        a.clock_offset_ms > 0,
        "offset of the storage clock from a clock at 0"
    );
    assert_eq!(
        m.heartbeat("b", &clock, liveness).expect("b").serving,
        Ok(())
    );
    let c = m.heartbeat("c", &clock, liveness).expect("c");
    assert!(
        matches!(c.serving, Err(NotServing::TooManyManagers { max: 2, .. })),
        "{c:?}"
    );
    assert_eq!(c.managers.len(), 3);
    m.deregister("a").expect("deregister");
    assert_eq!(
        m.heartbeat("c", &clock, liveness).expect("c").serving,
        Ok(())
    );
    // b and c stop heartbeating; after the liveness window a newcomer serves.
    b.advance(Duration::from_millis(1100));
    let d = m.heartbeat("d", &clock, liveness).expect("d");
    assert_eq!(d.serving, Ok(()));
    assert_eq!(
        m.heartbeat("e", &clock, liveness).expect("e").serving,
        Ok(())
    );
    b.advance(Duration::from_millis(10));
    let late = m.heartbeat("b", &clock, liveness).expect("b returns");
    assert!(
        late.serving.is_err(),
        "a returning manager queues behind live ones"
    );
}

pub fn usage_since_filters_and_orders<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let a = m.grant(&request("vdp", "a", 1, 1), random()).expect("a");
    m.release(a.grant_id).expect("release a");
    b.advance(Duration::from_millis(20));
    let cut = now(&m);
    b.advance(Duration::from_millis(20));
    let c = m.grant(&request("vdp", "c", 1, 1), random()).expect("c");
    m.revoke(c.grant_id).expect("revoke c");
    let d = m.grant(&request("vdp", "d", 1, 1), random()).expect("d");
    m.release(d.grant_id).expect("release d");
    let rows = m.read(|tx, _| tx.usage_since(cut, 10)).expect("usage");
    let ids: Vec<_> = rows.iter().map(|r| r.grant_id).collect();
    assert_eq!(ids, [c.grant_id, d.grant_id]);
    assert_eq!(
        m.read(|tx, _| tx.usage_since(UnixMillis(0), 2))
            .expect("usage")
            .len(),
        2
    );
    // Pages of one from each cursor give the same rows in the same order,
    // rows that ended in the same millisecond (c and d) included.
    let all = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage");
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = m
            .read(|tx, _| tx.usage_page(UnixMillis(0), after, 1))
            .expect("page");
        let Some(Keyed { cursor: at, row }) = page.into_iter().next() else {
            break;
        };
        assert!(after.is_none_or(|a| at > a), "{at} after {after:?}");
        after = Some(at);
        paged.push(row);
    }
    assert_eq!(paged, all);
    let last: tenure_storage::UsageCursor =
        after.expect("rows").to_string().parse().expect("cursor");
    assert_eq!(Some(last), after);
}
