//! The blocking half of a console page: the storage reads and the actions,
//! then the page. Frontends run it on their blocking pool like any job.

use super::actions::{self, LicensePreview, PoolChange, Target};
use super::form::Fields;
use super::grants::{self, PAGE_ROWS, Row, SCAN_LIMIT};
use super::layout::{Ctx, error, html_response, redirect};
use super::{Page, Work, overview};
use crate::http::Response;
use crate::listing;
use crate::service::Service;
use std::collections::BTreeMap;
use tenure_core::GrantId;
use tenure_core::license;
use tenure_core::manager::{self, PoolTotals};
use tenure_core::wire::{AuditEntry, AuditResult, GrantView, Instance, PoolKey, ReleaseRequest};
use tenure_storage::{Actor, InstallError, Installed, ManagerError, Store};

mod records;

/// Grants listed on a license's confirmation page at most.
const ENDING_SHOWN: usize = 100;
/// Grants read to find them, at most.
const ENDING_SCAN: usize = 20_000;

fn failed(e: &ManagerError, ctx: &Ctx) -> Response {
    let code = e.code();
    let mut r = error(
        code.http_status(),
        "Could not do that",
        &e.to_string(),
        Some(ctx),
    );
    r.retry_after = code.retry_after_s();
    r
}

/// Runs one console page.
pub fn run<S: Store>(svc: &Service<S>, w: Work) -> Response {
    let ctx = &w.ctx;
    let result = match &w.page {
        Page::Overview => overview_page(svc, ctx),
        Page::Grants(q) => grants_page(svc, ctx, q),
        Page::Usage(q) => records::usage_page(svc, ctx, *q),
        Page::UsageCsv(q) => records::usage_csv(svc, ctx, *q),
        Page::Audit(q) => records::audit_page(svc, ctx, *q),
        Page::ConfirmRevoke(id) => confirm_revoke(svc, ctx, id),
        Page::Revoke(id) => return revoke(svc, &w, id),
        Page::ConfirmRelease(f) => confirm_release(svc, ctx, f),
        Page::Release(f) => return release(svc, &w, f),
        Page::CheckLicense(text) => Ok(check_license(svc, ctx, text)),
        Page::InstallLicense(text) => return install_license(svc, &w, text),
    };
    result.unwrap_or_else(|e| failed(&e, ctx))
}

fn overview_page<S: Store>(svc: &Service<S>, ctx: &Ctx) -> Result<Response, ManagerError> {
    let status = svc.status_view()?;
    let model = overview::Model::new(&status, &svc.health_view(true));
    Ok(html_response(200, overview::render(&model, ctx)))
}

/// Held grants after `after` that `keep` accepts, read a listing page at a
/// time: at most `want` of them from at most `scan` grants, and where to go
/// on when there may be more.
fn collect<S: Store>(
    svc: &Service<S>,
    mut after: Option<GrantId>,
    want: usize,
    scan: usize,
    keep: impl Fn(&GrantView) -> bool,
) -> Result<(Vec<GrantView>, Option<GrantId>), ManagerError> {
    let mut kept = Vec::new();
    let mut read = 0;
    loop {
        let chunk = (want * 4).clamp(100, 1_000);
        let (views, next) = listing::page(svc.manager(), after, chunk)?;
        read += chunk;
        for (i, v) in views.iter().enumerate() {
            if keep(v) {
                kept.push(v.clone());
                if kept.len() == want {
                    let more = i + 1 < views.len() || next.is_some();
                    return Ok((kept, more.then_some(v.grant_id)));
                }
            }
        }
        match next {
            Some(n) if read < scan => after = Some(n),
            Some(n) => return Ok((kept, Some(n))),
            None => return Ok((kept, None)),
        }
    }
}

fn grants_page<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    q: &grants::Query,
) -> Result<Response, ManagerError> {
    let lic = svc.manager().license()?;
    let (views, next) = collect(svc, q.after, PAGE_ROWS, SCAN_LIMIT, |v| q.matches(v))?;
    let pools = lic
        .limits
        .iter()
        .flat_map(|(e, ps)| ps.keys().map(move |p| (e.to_string(), p.to_string())))
        .collect();
    let model = grants::Model {
        query: q.clone(),
        pools,
        rows: views.iter().map(Row::new).collect(),
        next: next.map(|n| n.to_string()),
        now_ms: svc.manager().read(|_, now| Ok(now))?.0,
        grace_period_s: lic.grace_period_s,
    };
    Ok(html_response(200, grants::render(&model, ctx)))
}

fn renew_every_s<S: Store>(svc: &Service<S>) -> u64 {
    svc.manager().config().renew_every.as_secs()
}

/// The held grant `find` reads, as a row.
fn held<S: Store>(
    svc: &Service<S>,
    find: impl Fn(
        &mut dyn tenure_storage::Tx,
    ) -> Result<Option<manager::HeldGrant>, tenure_storage::StorageError>,
) -> Result<Option<Row>, ManagerError> {
    let ttl = svc.manager().config().lease_ttl;
    Ok(svc.manager().read(|tx, now| {
        Ok(find(tx)?
            .filter(|g| g.is_held_at(now))
            .map(|g| Row::new(&manager::grant_view(&g, now, ttl))))
    })?)
}

fn confirm_revoke<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    id: &str,
) -> Result<Response, ManagerError> {
    let row = match GrantId::parse(id) {
        Ok(gid) => held(svc, |tx| tx.grant(gid))?,
        Err(_) => None,
    };
    let status = if row.is_some() { 200 } else { 404 };
    Ok(html_response(
        status,
        actions::confirm_revoke(ctx, id, row.as_ref(), renew_every_s(svc)),
    ))
}

fn revoke<S: Store>(svc: &Service<S>, w: &Work, id: &str) -> Response {
    let Ok(gid) = GrantId::parse(id) else {
        let what = AuditEntry::new(&w.caller.name, "revoke", id, AuditResult::NotFound);
        svc.manager().record(&what);
        return error(
            404,
            "No such grant",
            "That is not a grant id.",
            Some(&w.ctx),
        );
    };
    match svc.manager().revoke_by(Actor::new(&w.caller.name), gid) {
        Ok(()) => {
            tracing::info!(token = %w.caller.name, grant = %gid.short(), "console: grant revoked");
            let notice = format!("Grant {gid} revoked: its component stops at its next renewal.");
            svc.console().sessions().set_notice(w.key, notice);
            redirect("/ui/grants")
        }
        Err(e) => failed(&e, &w.ctx),
    }
}

fn instance(f: &Fields) -> Result<Instance, String> {
    let port = f.value("port").map(|p| p.parse::<i64>().unwrap_or(-1));
    ReleaseRequest {
        environment: f.value("environment").map(str::to_owned),
        product: f.value("product").map(str::to_owned),
        hostname: f.value("hostname").map(str::to_owned),
        port,
    }
    .validate()
    .map_err(|e| e.to_string())
}

fn target(i: &Instance) -> Target {
    Target {
        environment: i.environment.to_string(),
        product: i.product.to_string(),
        hostname: i.hostname.as_str().to_owned(),
        port: i.port,
    }
}

fn confirm_release<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    f: &Fields,
) -> Result<Response, ManagerError> {
    let i = match instance(f) {
        Ok(i) => i,
        Err(why) => return Ok(error(400, "Not an instance", &why, Some(ctx))),
    };
    let row = held(svc, |tx| tx.grant_by_instance(&i))?;
    let status = if row.is_some() { 200 } else { 404 };
    Ok(html_response(
        status,
        actions::confirm_release(ctx, &target(&i), row.as_ref()),
    ))
}

fn release<S: Store>(svc: &Service<S>, w: &Work, f: &Fields) -> Response {
    let i = match instance(f) {
        Ok(i) => i,
        Err(why) => {
            let what = AuditEntry::new(&w.caller.name, "release", "-", AuditResult::BadRequest);
            svc.manager().record(&what.with_detail(&why));
            return error(400, "Not an instance", &why, Some(&w.ctx));
        }
    };
    match svc
        .manager()
        .admin_release_by(Actor::new(&w.caller.name), &i)
    {
        Ok(()) => {
            let t = target(&i);
            let name = format!("{}/{} {}:{}", t.environment, t.product, t.hostname, t.port);
            tracing::info!(token = %w.caller.name, instance = %name, "console: instance released");
            svc.console()
                .sessions()
                .set_notice(w.key, format!("{name} released: its slot is free."));
            redirect("/ui/grants")
        }
        Err(e) => failed(&e, &w.ctx),
    }
}

fn preview<S: Store>(svc: &Service<S>, text: &str) -> Result<LicensePreview, String> {
    if text.trim().is_empty() {
        return Err("no license text or file was given".into());
    }
    let m = svc.manager();
    let (now, totals) = m
        .read(|tx, now| Ok((now, tx.pool_totals(now)?)))
        .map_err(|e| e.to_string())?;
    let verified = license::verify_at(text, m.trusted_keys(), now).map_err(|e| e.to_string())?;
    let lic = verified.license();
    let totals: BTreeMap<PoolKey, PoolTotals> =
        totals.into_iter().map(|r| (r.pool, r.totals)).collect();
    let held = |k: &PoolKey| totals.get(k).copied().unwrap_or_default();
    let mut pools = Vec::new();
    for (env, products) in &lic.limits {
        for (product, limits) in products {
            let t = held(&PoolKey::new(env.clone(), product.clone()));
            pools.push(PoolChange {
                pool: format!("{env}/{product}"),
                servers: t.servers,
                total_cores: t.total_cores,
                max_servers: limits.max_servers,
                max_total_cores: limits.max_total_cores,
            });
        }
    }
    let dropped_keys: Vec<&PoolKey> = totals
        .iter()
        .filter(|(k, t)| t.servers > 0 && lic.limits_for(k).is_none())
        .map(|(k, _)| k)
        .collect();
    let ending = if dropped_keys.is_empty() {
        Vec::new()
    } else {
        collect(svc, None, ENDING_SHOWN, ENDING_SCAN, |v| {
            dropped_keys.contains(&&v.instance.pool())
        })
        .map_err(|e| e.to_string())?
        .0
    };
    Ok(LicensePreview {
        license_id: lic.license_id.clone(),
        licensee: lic.licensee.clone(),
        not_before_ms: lic.not_before.0,
        not_after_ms: lic.not_after.0,
        max_managers: lic.max_managers,
        current_id: m.license().ok().map(|l| l.license_id.clone()),
        pools,
        dropped: dropped_keys
            .iter()
            .map(|k| (format!("{}/{}", k.environment, k.product), held(k).servers))
            .collect(),
        ending: ending.iter().map(Row::new).collect(),
        text: verified.armoured().to_owned(),
    })
}

fn check_license<S: Store>(svc: &Service<S>, ctx: &Ctx, text: &str) -> Response {
    match preview(svc, text) {
        Ok(p) => html_response(200, actions::confirm_license(ctx, Ok(&p))),
        Err(why) => html_response(400, actions::confirm_license(ctx, Err(why))),
    }
}

fn install_license<S: Store>(svc: &Service<S>, w: &Work, text: &str) -> Response {
    match svc
        .manager()
        .install_license_by(Actor::new(&w.caller.name), text)
    {
        Ok(Installed::Installed { license_id } | Installed::KeptStored { license_id }) => {
            tracing::info!(token = %w.caller.name, %license_id, "console: license installed");
            svc.console()
                .sessions()
                .set_notice(w.key, format!("License {license_id} installed."));
            redirect("/ui/")
        }
        Err(InstallError::Storage(e)) => failed(&e.into(), &w.ctx),
        Err(e) => html_response(400, actions::confirm_license(&w.ctx, Err(e.to_string()))),
    }
}
