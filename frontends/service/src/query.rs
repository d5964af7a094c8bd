//! The query parameters the API takes:
//! `GET /v1/usage?since=RFC3339&limit=N&after=CURSOR`,
//! `GET /v1/audit?since=RFC3339&limit=N&after=CURSOR` and
//! `GET /v1/grants?limit=N&after=GRANT_ID`.

use std::fmt::Display;
use std::str::FromStr;
use tenure_core::{GrantId, UnixMillis, rfc3339};
use tenure_storage::{AuditCursor, UsageCursor};

/// The largest page of `GET /v1/grants` one request may ask for.
pub const MAX_PAGE: usize = 10_000;

/// `GET /v1/grants` paging. Without `limit` the answer lists every held
/// grant after `after` (all of them without it: the contract's plain
/// listing); with it, one page and a `Link` to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GrantsPage {
    pub limit: Option<usize>,
    pub after: Option<GrantId>,
}

/// `%XX` decoding; `+` is a literal plus (RFC 3339 offsets), not a space.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            // from_str_radix would accept a sign ("%+1"): two hex digits only.
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `since` from the query (default: the epoch, i.e. all history).
pub fn usage_since(query: Option<&str>) -> Result<UnixMillis, String> {
    let Some(q) = query else {
        return Ok(UnixMillis(0));
    };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "since" {
            let v = percent_decode(v).ok_or("`since` is not valid percent-encoded text")?;
            return rfc3339::parse(&v).map_err(|e| {
                format!("`since` must be an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}")
            });
        }
    }
    Ok(UnixMillis(0))
}

/// Paging of a listing in time order (`GET /v1/usage`, `GET /v1/audit`):
/// rows stamped at or after `since`; without `limit` all of them (read a
/// page at a time, never capped), with it one page and a `Link` to the
/// next, continuing after the cursor `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePage<C> {
    pub since: UnixMillis,
    pub limit: Option<usize>,
    pub after: Option<C>,
}

/// Usage rows, in the order they ended.
pub type UsagePage = TimePage<UsageCursor>;
/// Audit rows, in the order they were written (storage time).
pub type AuditPage = TimePage<AuditCursor>;

/// `since`, `limit` (1 to [`MAX_PAGE`]) and `after` (a cursor from a
/// `Link` header) from the query.
pub fn time_page<C: FromStr>(query: Option<&str>) -> Result<TimePage<C>, String>
where
    C::Err: Display,
{
    let mut page = TimePage {
        since: usage_since(query)?,
        limit: None,
        after: None,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => page.limit = Some(limit(v)?),
            "after" => page.after = Some(v.parse().map_err(|e: C::Err| e.to_string())?),
            _ => {}
        }
    }
    Ok(page)
}

/// [`time_page`] of usage rows.
pub fn usage_page(query: Option<&str>) -> Result<UsagePage, String> {
    time_page(query)
}

/// [`time_page`] of audit rows.
pub fn audit_page(query: Option<&str>) -> Result<AuditPage, String> {
    time_page(query)
}

/// The `Link` header pointing at the audit page after `last`.
pub fn next_audit_link(page: &AuditPage, limit: usize, last: AuditCursor) -> String {
    next_time_link("/v1/audit", page, limit, last)
}

fn limit(v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| format!("`limit` must be a number from 1 to {MAX_PAGE}"))
}

/// The `Link` header pointing at the usage page after `last`.
pub fn next_usage_link(page: &UsagePage, limit: usize, last: UsageCursor) -> String {
    next_time_link("/v1/usage", page, limit, last)
}

/// The `Link` header pointing at the page of `path` after `last`.
fn next_time_link<C: Display>(path: &str, page: &TimePage<C>, limit: usize, last: C) -> String {
    let since = rfc3339::display(page.since).to_string().replace('+', "%2B");
    format!("<{path}?since={since}&limit={limit}&after={last}>; rel=\"next\"")
}

/// `limit` (1 to [`MAX_PAGE`]) and `after` (a grant id) from the query.
pub fn grants_page(query: Option<&str>) -> Result<GrantsPage, String> {
    let mut page = GrantsPage::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => page.limit = Some(limit(v)?),
            "after" => {
                let id = GrantId::parse(v)
                    .map_err(|_| "`after` must be a grant id (32 hex digits)".to_owned())?;
                page.after = Some(id);
            }
            _ => {}
        }
    }
    Ok(page)
}

/// The `Link` header pointing at the page after `last`.
pub fn next_page_link(limit: usize, last: GrantId) -> String {
    format!("</v1/grants?limit={limit}&after={last}>; rel=\"next\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_paging_reads_limit_and_cursor_and_links_back() {
        let p = usage_page(Some("since=1970-01-01T00:00:01Z&limit=2&after=1500.7")).expect("page");
        let at = UsageCursor {
            ended_ms: 1500,
            id: 7,
        };
        assert_eq!(
            p,
            UsagePage {
                since: UnixMillis(1000),
                limit: Some(2),
                after: Some(at),
            }
        );
        let link = next_usage_link(&p, 2, at);
        let target = link
            .strip_prefix("</v1/usage?")
            .and_then(|l| l.split_once('>'))
            .map(|(q, _)| q)
            .expect("link");
        assert_eq!(usage_page(Some(target)), Ok(p));
        assert!(usage_page(Some("after=7")).is_err());
        assert!(usage_page(Some("limit=0")).is_err());
    }

    #[test]
    fn audit_paging_reads_limit_and_cursor_and_links_back() {
        let p = audit_page(Some(
            "since=2026-01-01T00:00:00Z&limit=1&after=1767225600000.3",
        ))
        .expect("page");
        let at = AuditCursor {
            at_ms: 1_767_225_600_000,
            id: 3,
        };
        assert_eq!(
            p,
            AuditPage {
                since: UnixMillis(1_767_225_600_000),
                limit: Some(1),
                after: Some(at),
            }
        );
        let link = next_audit_link(&p, 1, at);
        let target = link
            .strip_prefix("</v1/audit?")
            .and_then(|l| l.split_once('>'))
            .map(|(q, _)| q)
            .expect("link");
        assert_eq!(audit_page(Some(target)), Ok(p));
        assert_eq!(
            audit_page(None),
            Ok(AuditPage {
                since: UnixMillis(0),
                limit: None,
                after: None,
            })
        );
        for (bad, says) in [
            ("since=yesterday", "RFC 3339"),
            ("since=%zz", "percent-encoded"),
            ("limit=0", "`limit`"),
            ("limit=10001", "`limit`"),
            ("limit=x", "`limit`"),
            ("after=7", "audit cursor"),
            ("after=1.x", "audit cursor"),
            ("after=", "audit cursor"),
        ] {
            let e = audit_page(Some(bad)).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn since_parses_plain_and_encoded() {
        assert_eq!(usage_since(None), Ok(UnixMillis(0)));
        assert_eq!(usage_since(Some("x=1")), Ok(UnixMillis(0)));
        assert_eq!(
            usage_since(Some("since=1970-01-01T00:00:01Z")),
            Ok(UnixMillis(1000))
        );
        assert_eq!(
            usage_since(Some("since=1970-01-01T01%3A00%3A00%2B01%3A00")),
            Ok(UnixMillis(0))
        );
        assert!(usage_since(Some("since=yesterday")).is_err());
        assert!(usage_since(Some("since=%zz")).is_err());
        assert!(usage_since(Some("since=%+1")).is_err());
    }

    #[test]
    fn grants_page_bounds_and_cursor() {
        assert_eq!(grants_page(None), Ok(GrantsPage::default()));
        assert_eq!(grants_page(Some("x=1&")), Ok(GrantsPage::default()));
        let id = "0123456789abcdef0123456789abcdef";
        let page = grants_page(Some(&format!("limit=2&after={id}"))).expect("valid");
        assert_eq!(page.limit, Some(2));
        assert_eq!(page.after.map(|a| a.to_string()).as_deref(), Some(id));
        assert_eq!(
            grants_page(Some("limit=10000")).map(|p| p.limit),
            Ok(Some(MAX_PAGE))
        );
        let rest = grants_page(Some(&format!("after={id}"))).expect("after alone");
        assert_eq!((rest.limit, rest.after.is_some()), (None, true));
        for bad in [
            "limit=0",
            "limit=10001",
            "limit=-1",
            "limit=",
            "limit=1e3",
            "limit=99999999999999999999999",
            "limit=5&after=xyz",
            "limit=5&after=",
        ] {
            assert!(grants_page(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            next_page_link(2, GrantId::parse(id).expect("id")),
            format!("</v1/grants?limit=2&after={id}>; rel=\"next\"")
        );
    }
}
