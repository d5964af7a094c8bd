use super::Decision;
use super::clock_watch::Instants;
use super::config::ManagerConfig;
use super::denial::Denial;
use super::held::{HeldGrant, Mutation};
use super::pool::PoolView;
use crate::GrantId;
use crate::license::License;
use crate::time::UnixMillis;
use crate::wire::{EndReason, GrantRequest, GrantResponse, Instance, UsageRow};

fn end(g: &HeldGrant, now: UnixMillis, reason: EndReason) -> Mutation {
    Mutation::End {
        grant_id: g.grant_id,
        usage: g.usage(now, reason),
    }
}

fn deny<T>(denial: Denial, mutations: Vec<Mutation>) -> Decision<T> {
    Decision {
        outcome: Err(denial),
        mutations,
    }
}

fn held_until(cfg: &ManagerConfig, license: &License, renewed: UnixMillis) -> UnixMillis {
    renewed
        .saturating_add(license.grace_period())
        .saturating_add(cfg.reclaim_margin)
}

fn skew(client: Option<UnixMillis>, now: UnixMillis) -> Option<i64> {
    client.map(|c| c.millis_since(now))
}

fn response(
    cfg: &ManagerConfig,
    license: &License,
    grant_id: GrantId,
    at: &Instants,
) -> GrantResponse {
    let now = at.storage;
    GrantResponse {
        grant_id,
        lease_ttl_s: cfg.lease_ttl.as_secs(),
        renew_every_s: cfg.renew_every.as_secs(),
        grace_period_s: license.grace_period_s,
        server_time_ms: now.0,
        license_id: license.license_id.clone(),
        license_expires_in_s: at.license.secs_until(license.not_after),
    }
}

/// Whether `pool` is licensed at all, and its limits.
/// The limits of the pool `instance` belongs to (read in place: a renewal
/// should not build a pool key to look them up).
fn pool_limits<'l>(
    license: &'l License,
    instance: &Instance,
) -> Result<&'l crate::license::Limits, Denial> {
    if !license.has_environment(&instance.environment) {
        return Err(Denial::EnvironmentNotLicensed {
            environment: instance.environment.clone(),
        });
    }
    license
        .limits_of(&instance.environment, &instance.product)
        .ok_or_else(|| Denial::ProductNotLicensed {
            environment: instance.environment.clone(),
            product: instance.product.clone(),
        })
}

/// M1, M3, M7: grant `req` a fresh grant if every limit of its pool holds with
/// it. A grant the same instance already holds is replaced and does not count:
/// it ends with a `replaced` usage row in the same transaction, so its next
/// renewal hears `replaced` (M3). Grants of the pool found past their
/// deadline are reclaimed either way. `pool` is read at `now`'s deadline
/// instant (M9).
pub fn grant(
    cfg: &ManagerConfig,
    license: &License,
    pool: &PoolView,
    req: &GrantRequest,
    now: impl Into<Instants>,
    new_id: GrantId,
) -> Decision<GrantResponse> {
    let at = now.into();
    let now = at.storage;
    let mut mutations: Vec<Mutation> = pool
        .expired
        .iter()
        .map(|g| end(g, now, EndReason::GraceExceeded))
        .collect();
    if let Some(d) = Denial::license_window(license.not_before, license.not_after, at.license) {
        return deny(d, mutations);
    }
    let key = req.instance.pool();
    let limits = match pool_limits(license, &req.instance) {
        Ok(l) => l,
        Err(d) => return deny(d, mutations),
    };
    let mut others = pool.held;
    if let Some(old) = &pool.same_instance {
        others.servers = others.servers.saturating_sub(1);
        others.total_cores = others
            .total_cores
            .saturating_sub(u64::from(old.facts.cores));
    }
    let cores = u64::from(req.facts.cores);
    if let Some(limit) = limits.max_cores_per_server.filter(|l| cores > *l) {
        return deny(
            Denial::CoresPerServerExceeded {
                environment: key.environment,
                product: key.product,
                limit,
                requested: cores,
            },
            mutations,
        );
    }
    if let Some(limit) = limits.max_servers.filter(|l| others.servers >= *l) {
        return deny(
            Denial::ServersExceeded {
                environment: key.environment,
                product: key.product,
                limit,
                held: others.servers,
            },
            mutations,
        );
    }
    if let Some(limit) = limits
        .max_total_cores
        .filter(|l| others.total_cores.saturating_add(cores) > *l)
    {
        return deny(
            Denial::TotalCoresExceeded {
                environment: key.environment,
                product: key.product,
                limit,
                held: others.total_cores,
                requested: cores,
            },
            mutations,
        );
    }
    if let Some(old) = &pool.same_instance {
        mutations.push(end(old, now, EndReason::Replaced));
    }
    mutations.push(Mutation::Insert(HeldGrant {
        grant_id: new_id,
        instance: req.instance.clone(),
        facts: req.facts.clone(),
        granted_at: now,
        last_renewed: now,
        held_until: held_until(cfg, license, now),
        client_skew_ms: skew(req.client_time, now),
    }));
    Decision {
        outcome: Ok(response(cfg, license, new_id, &at)),
        mutations,
    }
}

/// Renew `grant_id`. `held` is its held grant if storage has one; `ended` is
/// the usage row it left if it has ended instead, so a revoked grant hears
/// `revoked` and a replaced one `replaced`, naming its instance (M3). A grant
/// past its deadline is reclaimed and unknown. After `not_after` the grant
/// ends with `license_expired`; before `not_before` it is refused but kept
/// (M7): the license is not served yet, and the grant was taken under a
/// valid one. A grant whose pool the current license no longer has ends as
/// revoked: the vendor withdrew it.
pub fn renew(
    cfg: &ManagerConfig,
    license: &License,
    held: Option<&HeldGrant>,
    ended: Option<&UsageRow>,
    client_time: Option<UnixMillis>,
    now: impl Into<Instants>,
) -> Decision<GrantResponse> {
    let at = now.into();
    let now = at.storage;
    let Some(g) = held else {
        let denial = match ended {
            Some(u) => match u.end_reason {
                EndReason::Revoked => Denial::Revoked,
                EndReason::Replaced => Denial::Replaced {
                    instance: u.instance.clone(),
                },
                EndReason::LicenseExpired => Denial::LicenseExpired {
                    not_after_ms: license.not_after.0,
                },
                // An admin release answers as a component's own release
                // did before it had its own reason: the component is gone.
                EndReason::Released | EndReason::GraceExceeded | EndReason::AdminReleased => {
                    Denial::UnknownGrant
                }
            },
            None => Denial::UnknownGrant,
        };
        return deny(denial, Vec::new());
    };
    if !g.is_held_at(at.deadlines) {
        return deny(
            Denial::UnknownGrant,
            vec![end(g, now, EndReason::GraceExceeded)],
        );
    }
    match Denial::license_window(license.not_before, license.not_after, at.license) {
        Some(d @ Denial::LicenseNotYetValid { .. }) => return deny(d, Vec::new()),
        Some(d) => return deny(d, vec![end(g, now, EndReason::LicenseExpired)]),
        None => {}
    }
    if let Err(d) = pool_limits(license, &g.instance) {
        return deny(d, vec![end(g, now, EndReason::Revoked)]);
    }
    Decision {
        outcome: Ok(response(cfg, license, g.grant_id, &at)),
        mutations: vec![Mutation::Renew {
            grant_id: g.grant_id,
            last_renewed: now,
            held_until: held_until(cfg, license, now),
            client_skew_ms: skew(client_time, now),
        }],
    }
}

fn end_with(
    held: Option<&HeldGrant>,
    at: Instants,
    reason: EndReason,
    missing: Denial,
) -> Decision<()> {
    let now = at.storage;
    match held {
        Some(g) if g.is_held_at(at.deadlines) => Decision {
            outcome: Ok(()),
            mutations: vec![end(g, now, reason)],
        },
        Some(g) => deny(missing, vec![end(g, now, EndReason::GraceExceeded)]),
        None => deny(missing, Vec::new()),
    }
}

/// A component's clean stop (A5): `DELETE /v1/grants/{id}`.
pub fn release(held: Option<&HeldGrant>, now: impl Into<Instants>) -> Decision<()> {
    end_with(held, now.into(), EndReason::Released, Denial::UnknownGrant)
}

/// An operator frees the grant a crashed server's instance holds.
pub fn admin_release(held: Option<&HeldGrant>, now: impl Into<Instants>) -> Decision<()> {
    end_with(held, now.into(), EndReason::AdminReleased, Denial::NotFound)
}

/// An operator revokes a grant; its component hears `revoked` and stops.
pub fn revoke(held: Option<&HeldGrant>, now: impl Into<Instants>) -> Decision<()> {
    end_with(held, now.into(), EndReason::Revoked, Denial::NotFound)
}

/// The periodic sweep: end every grant past its deadline, none earlier.
pub fn reclaim<'a>(
    grants: impl IntoIterator<Item = &'a HeldGrant>,
    now: impl Into<Instants>,
) -> Vec<Mutation> {
    let at = now.into();
    grants
        .into_iter()
        .filter(|g| !g.is_held_at(at.deadlines))
        .map(|g| end(g, at.storage, EndReason::GraceExceeded))
        .collect()
}
