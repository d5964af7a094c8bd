//! Manager decisions, case by case (M1-M3, M7, M8).

mod common;

use common::*;
use std::time::Duration;
use tenure_core::manager::{
    self, Denial, ManagerConfig, PoolView, admin_release, grant, reclaim, release, renew, revoke,
};
use tenure_core::wire::EndReason;
use tenure_core::{ErrorCode, UnixMillis};

fn cfg() -> ManagerConfig {
    ManagerConfig::default()
}

fn do_grant(
    store: &mut Applied,
    lic: &tenure_core::license::License,
    req: &tenure_core::wire::GrantRequest,
    now: UnixMillis,
    n: u64,
) -> Result<tenure_core::wire::GrantResponse, Denial> {
    let view = PoolView::from_grants(
        store
            .held
            .values()
            .filter(|g| g.instance.pool() == req.instance.pool()),
        &req.instance,
        now,
    );
    let d = grant(&cfg(), lic, &view, req, now, id(n));
    store.apply(&d.mutations);
    d.outcome
}

#[test]
fn grants_fill_a_pool_then_name_the_limit() {
    let lic = license(
        &[("production", "vdp", limits(Some(2), Some(16), Some(20)))],
        432_000,
    );
    let mut s = Applied::default();
    let r = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 8),
        T0,
        1,
    )
    .expect("first");
    assert_eq!(r.lease_ttl_s, 900);
    assert_eq!(r.renew_every_s, 300);
    assert_eq!(r.grace_period_s, 432_000);
    assert_eq!(r.license_id, "lic-test");
    assert_eq!(r.license_expires_in_s, 365 * 86_400);
    let too_big = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 17),
        T0,
        2,
    );
    assert!(matches!(
        too_big,
        Err(Denial::CoresPerServerExceeded {
            limit: 16,
            requested: 17,
            ..
        })
    ));
    let total = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 13),
        T0,
        3,
    );
    let Err(d) = total else {
        panic!("total cores must deny")
    };
    assert_eq!(d.code(), ErrorCode::CoresExceeded);
    assert!(d.to_string().contains("max_total_cores is 20"), "{d}");
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 12),
        T0,
        4,
    )
    .expect("second");
    let third = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "c", 1, 1),
        T0,
        5,
    );
    let Err(d) = third else {
        panic!("servers must deny")
    };
    assert_eq!(d.code(), ErrorCode::ServersExceeded);
    assert!(d.to_string().contains("max_servers is 2"), "{d}");
    assert_eq!(s.held.len(), 2);
}

#[test]
fn unlicensed_environment_and_product() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 432_000);
    let mut s = Applied::default();
    let e = do_grant(&mut s, &lic, &request("staging", "vdp", "a", 1, 1), T0, 1);
    assert_eq!(
        e.map_err(|d| d.code()),
        Err(ErrorCode::EnvironmentNotLicensed)
    );
    let p = do_grant(
        &mut s,
        &lic,
        &request("production", "other", "a", 1, 1),
        T0,
        2,
    );
    assert_eq!(p.map_err(|d| d.code()), Err(ErrorCode::ProductNotLicensed));
    assert!(s.held.is_empty());
}

#[test]
fn restart_replaces_and_leaves_a_replaced_row() {
    let lic = license(
        &[("production", "vdp", limits(Some(1), None, None))],
        432_000,
    );
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("first");
    let later = T0.saturating_add(Duration::from_secs(60));
    let again = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "A", 1, 4),
        later,
        2,
    );
    assert_eq!(again.map(|r| r.grant_id), Ok(id(2)));
    assert_eq!(s.held.len(), 1);
    assert_eq!(s.ended(id(1)), Some(EndReason::Replaced));
    // M3: the older process hears `replaced`, final, naming the instance;
    // nothing more is written.
    let r = renew(
        &cfg(),
        &lic,
        s.held.get(&id(1)),
        s.usage_of(id(1)),
        None,
        later,
    );
    assert!(r.mutations.is_empty());
    let denial = r.outcome.expect_err("a replaced grant does not renew");
    assert_eq!(denial.code(), ErrorCode::Replaced);
    assert_eq!(denial.code().http_status(), 403);
    let text = denial.to_string();
    assert!(
        text.contains("environment=production product=vdp hostname=a port=1"),
        "{text}"
    );
    // The newer grant renews; a release of the replaced one is unknown.
    let newer = renew(&cfg(), &lic, s.held.get(&id(2)), None, None, later);
    assert!(newer.outcome.is_ok());
    assert_eq!(
        release(s.held.get(&id(1)), later).outcome,
        Err(Denial::UnknownGrant)
    );
}

#[test]
fn only_a_replaced_row_answers_replaced() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 100);
    let mut s = Applied::default();
    for (n, host) in [(1, "a"), (2, "b"), (3, "c")] {
        do_grant(
            &mut s,
            &lic,
            &request("production", "vdp", host, 1, 1),
            T0,
            n,
        )
        .expect("grant");
    }
    s.apply(&release(s.held.get(&id(1)), T0).mutations);
    s.apply(&revoke(s.held.get(&id(2)), T0).mutations);
    let late = UnixMillis(T0.0 + 700_000);
    s.apply(&reclaim(s.held.values(), late));
    let codes: Vec<_> = (1..=3)
        .map(|n| {
            renew(&cfg(), &lic, None, s.usage_of(id(n)), None, late)
                .outcome
                .map_err(|d| d.code())
        })
        .collect();
    assert_eq!(
        codes,
        [
            Err(ErrorCode::UnknownGrant),
            Err(ErrorCode::Revoked),
            Err(ErrorCode::UnknownGrant)
        ]
    );
}

#[test]
fn held_until_is_renewal_plus_grace_plus_margin_and_reclaim_is_exact() {
    let lic = license(&[("production", "vdp", limits(Some(1), None, None))], 100);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let deadline = UnixMillis(T0.0 + (100 + 600) * 1000);
    assert_eq!(s.held[&id(1)].held_until, deadline);
    let just_before = UnixMillis(deadline.0 - 1);
    assert!(reclaim(s.held.values(), just_before).is_empty());
    let denied = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 4),
        just_before,
        2,
    );
    assert!(
        denied.is_err(),
        "slot still held one ms before the deadline"
    );
    let at = reclaim(s.held.values(), deadline);
    assert_eq!(at.len(), 1);
    let ok = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 4),
        deadline,
        3,
    );
    assert!(ok.is_ok(), "slot free at the deadline");
    assert_eq!(s.ended(id(1)), Some(EndReason::GraceExceeded));
}

#[test]
fn renewal_moves_the_deadline_and_records_skew() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 100);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let t = UnixMillis(T0.0 + 50_000);
    let d = renew(
        &cfg(),
        &lic,
        s.held.get(&id(1)),
        None,
        Some(UnixMillis(t.0 + 7_000)),
        t,
    );
    assert!(d.outcome.is_ok());
    s.apply(&d.mutations);
    let g = &s.held[&id(1)];
    assert_eq!(g.last_renewed, t);
    assert_eq!(g.held_until, UnixMillis(t.0 + 700_000));
    assert_eq!(g.client_skew_ms, Some(7_000));
    assert_eq!(g.granted_at, T0);
}

#[test]
fn renewal_past_the_deadline_is_unknown_and_reclaims() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 100);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let late = UnixMillis(T0.0 + 700_000);
    let d = renew(&cfg(), &lic, s.held.get(&id(1)), None, None, late);
    assert_eq!(
        d.outcome.map_err(|d| d.code()),
        Err(ErrorCode::UnknownGrant)
    );
    s.apply(&d.mutations);
    assert_eq!(s.ended(id(1)), Some(EndReason::GraceExceeded));
}

#[test]
fn expiry_denies_grants_and_ends_renewals() {
    let mut lic = license(&[("production", "vdp", limits(None, None, None))], 432_000);
    lic.not_after = UnixMillis(T0.0 + 86_400_000);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let after = lic.not_after;
    let g = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 4),
        after,
        2,
    );
    assert_eq!(g.map_err(|d| d.code()), Err(ErrorCode::LicenseExpired));
    let r = renew(&cfg(), &lic, s.held.get(&id(1)), None, None, after);
    assert_eq!(
        r.outcome.clone().map_err(|d| d.code()),
        Err(ErrorCode::LicenseExpired)
    );
    s.apply(&r.mutations);
    assert_eq!(s.ended(id(1)), Some(EndReason::LicenseExpired));
    let again = renew(&cfg(), &lic, None, s.usage_of(id(1)), None, after);
    assert_eq!(
        again.outcome.map_err(|d| d.code()),
        Err(ErrorCode::LicenseExpired)
    );
    let before = UnixMillis(after.0 - 1);
    let ok = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "c", 1, 4),
        before,
        3,
    );
    assert_eq!(ok.map(|r| r.license_expires_in_s), Ok(0));
}

/// M7: before `not_before` (a storage clock set back) grants and renewals are
/// refused with 503 `license_not_yet_valid`, and held grants are kept: once
/// the clock is right again they renew as before.
#[test]
fn a_license_not_yet_valid_refuses_but_keeps_held_grants() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 432_000);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let stepped_back = UnixMillis(lic.not_before.0 - 1);
    let g = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "b", 1, 4),
        stepped_back,
        2,
    );
    let denial = g.expect_err("not yet valid");
    assert_eq!(denial.code(), ErrorCode::LicenseNotYetValid);
    assert_eq!(denial.code().http_status(), 503);
    assert_eq!(denial.code().retry_after_s(), Some(60));
    assert!(denial.to_string().contains("not valid before"), "{denial}");
    // A restart of a held instance is refused too, and does not end its grant.
    let restart = do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        stepped_back,
        3,
    );
    assert_eq!(
        restart.map_err(|d| d.code()),
        Err(ErrorCode::LicenseNotYetValid)
    );
    let r = renew(&cfg(), &lic, s.held.get(&id(1)), None, None, stepped_back);
    assert_eq!(
        r.outcome.map_err(|d| d.code()),
        Err(ErrorCode::LicenseNotYetValid)
    );
    assert!(r.mutations.is_empty(), "held grants are not ended");
    assert!(s.usage.is_empty());
    assert_eq!(s.held.len(), 1);
    let back = renew(&cfg(), &lic, s.held.get(&id(1)), None, None, lic.not_before);
    assert!(back.outcome.is_ok(), "valid again at not_before");
}

#[test]
fn release_revoke_and_admin_release() {
    let lic = license(
        &[("production", "vdp", limits(Some(3), None, None))],
        432_000,
    );
    let mut s = Applied::default();
    for n in 1..=3 {
        let host = format!("h{n}");
        do_grant(
            &mut s,
            &lic,
            &request("production", "vdp", &host, 1, 1),
            T0,
            n,
        )
        .expect("grant");
    }
    let d = release(s.held.get(&id(1)), T0);
    s.apply(&d.mutations);
    assert_eq!(s.ended(id(1)), Some(EndReason::Released));
    assert_eq!(
        release(s.held.get(&id(1)), T0).outcome,
        Err(Denial::UnknownGrant)
    );

    let d = revoke(s.held.get(&id(2)), T0);
    s.apply(&d.mutations);
    assert_eq!(s.ended(id(2)), Some(EndReason::Revoked));
    let r = renew(
        &cfg(),
        &lic,
        s.held.get(&id(2)),
        s.usage_of(id(2)),
        None,
        T0,
    );
    assert_eq!(r.outcome.map_err(|d| d.code()), Err(ErrorCode::Revoked));
    assert_eq!(
        revoke(None, T0).outcome.map_err(|d| d.code()),
        Err(ErrorCode::NotFound)
    );

    let inst = request("production", "vdp", "h3", 1, 1).instance;
    let d = admin_release(s.by_instance(&inst), T0);
    s.apply(&d.mutations);
    assert!(s.held.is_empty());
    assert_eq!(
        admin_release(None, T0).outcome.map_err(|d| d.code()),
        Err(ErrorCode::NotFound)
    );
    let reasons: Vec<_> = s.usage.iter().map(|u| u.end_reason).collect();
    assert_eq!(
        reasons,
        [
            EndReason::Released,
            EndReason::Revoked,
            EndReason::AdminReleased
        ]
    );
    // Its component hears what a released grant's would: unknown_grant.
    let admin_released = s.usage.last().cloned();
    let r = renew(
        &ManagerConfig::default(),
        &lic,
        None,
        admin_released.as_ref(),
        None,
        T0,
    );
    assert_eq!(
        r.outcome.map_err(|d| d.code()),
        Err(ErrorCode::UnknownGrant)
    );
}

#[test]
fn a_pool_withdrawn_from_the_license_ends_its_grants() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 432_000);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 4),
        T0,
        1,
    )
    .expect("grant");
    let newer = license(
        &[("production", "other", limits(None, None, None))],
        432_000,
    );
    let r = renew(&cfg(), &newer, s.held.get(&id(1)), None, None, T0);
    assert_eq!(
        r.outcome.map_err(|d| d.code()),
        Err(ErrorCode::ProductNotLicensed)
    );
    s.apply(&r.mutations);
    assert_eq!(s.ended(id(1)), Some(EndReason::Revoked));
}

#[test]
fn usage_rows_carry_instance_facts_and_times() {
    let lic = license(&[("production", "vdp", limits(None, None, None))], 432_000);
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 7, 4),
        T0,
        1,
    )
    .expect("grant");
    let t1 = UnixMillis(T0.0 + 1000);
    s.apply(&renew(&cfg(), &lic, s.held.get(&id(1)), None, None, t1).mutations);
    let t2 = UnixMillis(T0.0 + 2000);
    s.apply(&release(s.held.get(&id(1)), t2).mutations);
    let u = &s.usage[0];
    assert_eq!(
        (u.first_request_ms, u.last_request_ms, u.ended_ms),
        (T0.0, t1.0, t2.0)
    );
    assert_eq!(u.instance.port, 7);
    assert_eq!(u.facts.cores, 4);
    let json = serde_json::to_value(u).expect("json");
    assert_eq!(json["end_reason"], "released");
    assert_eq!(json["hostname"], "a");
}

#[test]
fn views_show_state_and_limits() {
    let lic = license(
        &[("production", "vdp", limits(Some(4), None, Some(48)))],
        432_000,
    );
    let mut s = Applied::default();
    do_grant(
        &mut s,
        &lic,
        &request("production", "vdp", "a", 1, 8),
        T0,
        1,
    )
    .expect("grant");
    let g = &s.held[&id(1)];
    let fresh = manager::grant_view(g, UnixMillis(T0.0 + 899_999), Duration::from_secs(900));
    assert_eq!(fresh.state, tenure_core::wire::GrantState::Active);
    let stale = manager::grant_view(g, UnixMillis(T0.0 + 900_000), Duration::from_secs(900));
    assert_eq!(stale.state, tenure_core::wire::GrantState::Grace);
    let view = PoolView::from_grants(s.held.values(), &g.instance, T0);
    let usage = manager::pool_usage(&lic, &g.instance.pool(), view.held);
    assert_eq!(
        (usage.servers, usage.total_cores, usage.max_servers),
        (1, 8, Some(4))
    );
    assert_eq!(usage.max_total_cores, Some(48));
}
