//! `GET /v1/grants`, `GET /v1/usage` and `GET /v1/audit`: listings read from storage a page
//! at a time (grants in grant-id order, usage rows in the order they ended),
//! so that listing a million rows never holds them all at once (957 MiB
//! resident on PostgreSQL when the grants listing did).

use crate::http::Response;
use crate::query::{self, AuditPage, GrantsPage, TimePage, UsagePage};
use serde::Serialize;
use tenure_core::wire::GrantView;
use tenure_core::{ErrorCode, GrantId, manager};
use tenure_storage::{Keyed, Manager, ManagerError, StorageError, Store};

/// Rows per storage read when the caller asked for the whole listing.
const FULL_LISTING_PAGE: usize = 1_000;

/// The grants held now among the next `limit` ids after `after`, and the
/// cursor to continue from when that read came back full (there may be
/// more). A page can hold fewer than `limit` views and still have a next
/// one: grants past their deadline that no sweep has ended yet are read but
/// not listed.
pub(crate) fn page<S: Store>(
    m: &Manager<S>,
    after: Option<GrantId>,
    limit: usize,
) -> Result<(Vec<GrantView>, Option<GrantId>), ManagerError> {
    let ttl = m.config().lease_ttl;
    Ok(m.read_at(|tx, at| {
        let now = at.deadlines;
        let rows = tx.grants_after(after, limit)?;
        let next = if rows.len() == limit {
            rows.last().map(|g| g.grant_id)
        } else {
            None
        };
        let views: Vec<GrantView> = rows
            .iter()
            .filter(|g| g.is_held_at(now))
            .map(|g| manager::grant_view(g, now, ttl))
            .collect();
        Ok((views, next))
    })?)
}

/// With `limit`: that page, and a `Link` header to the next while there may
/// be one. Without: every held grant (after `after`, if given), each page
/// read in its own transaction (a grant granted or ended during the listing
/// may or may not appear) and written straight into the body.
pub(crate) fn grants<S: Store>(m: &Manager<S>, q: GrantsPage) -> Result<Response, ManagerError> {
    if let Some(limit) = q.limit {
        let (views, next) = page(m, q.after, limit)?;
        let response = Response::json(200, &views);
        return Ok(match next {
            Some(last) => response.with_link(query::next_page_link(limit, last)),
            None => response,
        });
    }
    let mut body = vec![b'['];
    let mut after = q.after;
    loop {
        let (views, next) = page(m, after, FULL_LISTING_PAGE)?;
        for v in &views {
            if body.len() > 1 {
                body.push(b',');
            }
            if let Err(e) = serde_json::to_writer(&mut body, v) {
                return Ok(Response::error(
                    ErrorCode::BadRequest,
                    format!("cannot encode response: {e}"),
                ));
            }
        }
        match next {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    body.push(b']');
    Ok(Response::json_bytes(200, body))
}

/// `GET /v1/usage`: see [`in_time_order`].
pub(crate) fn usage<S: Store>(m: &Manager<S>, q: UsagePage) -> Result<Response, ManagerError> {
    in_time_order(
        &q,
        |after, limit| m.read(|tx, _| tx.usage_page(q.since, after, limit)),
        |limit, last| query::next_usage_link(&q, limit, last),
    )
}

/// `GET /v1/audit`: see [`in_time_order`].
pub(crate) fn audit<S: Store>(m: &Manager<S>, q: AuditPage) -> Result<Response, ManagerError> {
    in_time_order(
        &q,
        |after, limit| m.read(|tx, _| tx.audit_page(q.since, after, limit)),
        |limit, last| query::next_audit_link(&q, limit, last),
    )
}

/// A listing in time order. With `limit`: that page, and a `Link` header
/// (`link`) to the next while the page came back full. Without: every row
/// since `since` (after `after`), each page read in its own transaction,
/// never capped.
fn in_time_order<C: Copy, R: Serialize>(
    q: &TimePage<C>,
    read: impl Fn(Option<C>, usize) -> Result<Vec<Keyed<C, R>>, StorageError>,
    link: impl Fn(usize, C) -> String,
) -> Result<Response, ManagerError> {
    if let Some(limit) = q.limit {
        let rows = read(q.after, limit)?;
        let next = (rows.len() == limit).then(|| rows.last().map(|k| k.cursor));
        let body: Vec<_> = rows.into_iter().map(|k| k.row).collect();
        let response = Response::json(200, &body);
        return Ok(match next.flatten() {
            Some(last) => response.with_link(link(limit, last)),
            None => response,
        });
    }
    let mut body = vec![b'['];
    let mut after = q.after;
    loop {
        let rows = read(after, FULL_LISTING_PAGE)?;
        let full = rows.len() == FULL_LISTING_PAGE;
        for Keyed { cursor, row } in &rows {
            if body.len() > 1 {
                body.push(b',');
            }
            if let Err(e) = serde_json::to_writer(&mut body, row) {
                return Ok(Response::error(
                    ErrorCode::BadRequest,
                    format!("cannot encode response: {e}"),
                ));
            }
            after = Some(*cursor);
        }
        if !full {
            break;
        }
    }
    body.push(b']');
    Ok(Response::json_bytes(200, body))
}
