//! The blocking half of the Usage and Audit pages: the usage report and
//! the audit trail, read through the calls the API's routes make.

use super::super::layout::{Ctx, error, html_response, secure};
use super::super::{audit, usage};
use crate::http::{self, Response};
use crate::service::Service;
use tenure_core::UnixMillis;
use tenure_core::report::{By, to_csv};
use tenure_core::wire::ANONYMOUS;
use tenure_storage::{ManagerError, ReportError, Store, UsageReport};

/// The report `GET /v1/reports/usage` gives over the query's span, by
/// `by`, and the storage time it was asked at.
fn report<S: Store>(
    svc: &Service<S>,
    q: usage::Query,
    by: By,
) -> Result<Result<(UsageReport, UnixMillis), String>, ManagerError> {
    let now = svc.manager().read(|_, now| Ok(now))?;
    match svc
        .manager()
        .usage_report(UnixMillis(q.from(now.0)), None, by)
    {
        Ok(r) => Ok(Ok((r, now))),
        Err(ReportError::Query(e)) => Ok(Err(e.to_string())),
        Err(ReportError::Storage(e)) => Err(e.into()),
    }
}

pub(super) fn usage_page<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    q: usage::Query,
) -> Result<Response, ManagerError> {
    let (daily, _) = match report(svc, q, By::Day)? {
        Ok(r) => r,
        Err(why) => return Ok(error(400, "Not a usage span", &why, Some(ctx))),
    };
    let rows = if q.by == By::Day {
        daily.rows.clone()
    } else {
        match report(svc, q, q.by)? {
            Ok((r, _)) => r.rows,
            Err(why) => return Ok(error(400, "Not a usage span", &why, Some(ctx))),
        }
    };
    let limits: Vec<usage::Limits> = svc
        .manager()
        .license()?
        .limits
        .iter()
        .flat_map(|(e, ps)| {
            ps.iter().map(move |(p, l)| usage::Limits {
                environment: e.to_string(),
                product: p.to_string(),
                max_servers: l.max_servers,
                max_total_cores: l.max_total_cores,
            })
        })
        .collect();
    let model = usage::Model::new(q, &daily.range, &daily.rows, rows, &limits);
    Ok(html_response(200, usage::render(&model, ctx)))
}

/// The report as `GET /v1/reports/usage?format=csv` gives it, as a file.
pub(super) fn usage_csv<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    q: usage::Query,
) -> Result<Response, ManagerError> {
    let (r, now) = match report(svc, q, q.by)? {
        Ok(r) => r,
        Err(why) => return Ok(error(400, "Not a usage span", &why, Some(ctx))),
    };
    let disposition = format!("attachment; filename=\"{}\"", q.file_name(now.0));
    Ok(secure(Response {
        content_type: Some(http::CSV),
        body: to_csv(&r.rows).into_bytes(),
        ..Response::empty(200)
    })
    .with_header("content-disposition", disposition))
}

pub(super) fn audit_page<S: Store>(
    svc: &Service<S>,
    ctx: &Ctx,
    q: audit::Query,
) -> Result<Response, ManagerError> {
    let page = svc
        .manager()
        .read(|tx, _| tx.audit_page_newest(q.after, audit::PAGE_ROWS))?;
    let next = (page.len() == audit::PAGE_ROWS)
        .then(|| page.last().map(|k| k.cursor.to_string()))
        .flatten();
    let role = |name: &str| {
        (name != ANONYMOUS)
            .then(|| svc.tokens().callers().find(|c| &*c.name == name))
            .flatten()
            .map(|c| c.role)
    };
    let rows = page
        .into_iter()
        .map(|k| {
            let role = role(&k.row.token_name);
            audit::Row::new(k.row, role)
        })
        .collect();
    let model = audit::Model {
        query: q,
        rows,
        next,
    };
    Ok(html_response(200, audit::render(&model, ctx)))
}
