//! Grants: the held grants a page at a time (the paged listing in grant-id
//! order), filtered by pool and state, each with its host facts, last
//! renewal, clock skew and, in grace, the time its component has left.

use super::form::Fields;
use super::layout::{Ctx, Nav, ago, offset, page, span};
use maud::{Markup, html};
use std::time::Duration;
use tenure_core::wire::{GrantState, GrantView};
use tenure_core::{GrantId, UnixMillis};

/// Rows shown per page.
pub const PAGE_ROWS: usize = 50;
/// Grants read per page at most: a filter that matches few of them gives a
/// short page with a link to go on, not a scan of the whole table.
pub const SCAN_LIMIT: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Active,
    Grace,
}

/// The page's query: `pool=ENV/PRODUCT`, `state=active|grace`, `after=ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub pool: Option<(String, String)>,
    pub state: Option<StateFilter>,
    pub after: Option<GrantId>,
}

impl Query {
    /// Unknown or malformed values are dropped (the page shows everything).
    pub fn parse(f: &Fields) -> Self {
        Self {
            pool: f
                .value("pool")
                .and_then(|p| p.split_once('/'))
                .map(|(e, p)| (e.to_owned(), p.to_owned())),
            state: match f.value("state") {
                Some("active") => Some(StateFilter::Active),
                Some("grace") => Some(StateFilter::Grace),
                _ => None,
            },
            after: f.value("after").and_then(|a| GrantId::parse(a).ok()),
        }
    }

    pub fn matches(&self, g: &GrantView) -> bool {
        let pool_ok = self.pool.as_ref().is_none_or(|(e, p)| {
            g.instance.environment.as_str() == e && g.instance.product.as_str() == p
        });
        let state_ok = match self.state {
            None => true,
            Some(StateFilter::Active) => g.state == GrantState::Active,
            Some(StateFilter::Grace) => g.state == GrantState::Grace,
        };
        pool_ok && state_ok
    }

    fn link(&self, after: Option<&str>) -> String {
        let mut parts = Vec::new();
        if let Some((e, p)) = &self.pool {
            parts.push(format!("pool={e}/{p}"));
        }
        match self.state {
            Some(StateFilter::Active) => parts.push("state=active".into()),
            Some(StateFilter::Grace) => parts.push("state=grace".into()),
            None => {}
        }
        if let Some(a) = after {
            parts.push(format!("after={a}"));
        }
        if parts.is_empty() {
            "/ui/grants".into()
        } else {
            format!("/ui/grants?{}", parts.join("&"))
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub grant_id: String,
    pub environment: String,
    pub product: String,
    pub hostname: String,
    pub port: u16,
    pub cores: u32,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub grace: bool,
    pub last_renewed_ms: i64,
    pub client_skew_ms: Option<i64>,
}

impl Row {
    pub fn new(g: &GrantView) -> Self {
        Self {
            grant_id: g.grant_id.to_string(),
            environment: g.instance.environment.to_string(),
            product: g.instance.product.to_string(),
            hostname: g.instance.hostname.as_str().to_owned(),
            port: g.instance.port,
            cores: g.facts.cores,
            ip: g.facts.ip.map(|ip| ip.to_string()),
            version: g.facts.version.as_deref().map(str::to_owned),
            grace: g.state == GrantState::Grace,
            last_renewed_ms: g.last_renewed_ms,
            client_skew_ms: g.client_skew_ms,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub query: Query,
    /// Every pool of the license, `ENV/PRODUCT`, for the filter.
    pub pools: Vec<(String, String)>,
    pub rows: Vec<Row>,
    /// Where the next page starts, when there may be one.
    pub next: Option<String>,
    pub now_ms: i64,
    pub grace_period_s: u64,
}

fn state_cell(r: &Row, m: &Model) -> Markup {
    let deadline =
        UnixMillis(r.last_renewed_ms).saturating_add(Duration::from_secs(m.grace_period_s));
    let left = UnixMillis(m.now_ms).secs_until(deadline);
    html! {
        @if r.grace {
            span.badge.grace { "in grace" }
            " " span.hint { (span(Duration::from_secs(left))) " left" }
        } @else {
            span.badge.active { "active" }
        }
    }
}

fn filters(m: &Model) -> Markup {
    let q = &m.query;
    html! {
        form.filters method="get" action="/ui/grants" {
            label for="pool" { "Pool" }
            select #pool name="pool" {
                option value="" selected[q.pool.is_none()] { "all pools" }
                @for (e, p) in &m.pools {
                    @let v = format!("{e}/{p}");
                    option value=(v) selected[q.pool.as_ref() == Some(&(e.clone(), p.clone()))] { (v) }
                }
            }
            label for="state" { "State" }
            select #state name="state" {
                option value="" selected[q.state.is_none()] { "any state" }
                option value="active" selected[q.state == Some(StateFilter::Active)] { "active" }
                option value="grace" selected[q.state == Some(StateFilter::Grace)] { "in grace" }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn row(r: &Row, m: &Model, ctx: &Ctx) -> Markup {
    let now = UnixMillis(m.now_ms);
    // Each cell's content is one element, so a narrow screen can lay a
    // cell out as label and value (console.css).
    html! {
        tr {
            td data-label="State" { div { (state_cell(r, m)) } }
            td data-label="Instance" {
                div {
                    span.mono { (r.hostname) ":" (r.port) }
                    br;
                    span.hint.mono { (r.environment) "/" (r.product) }
                }
            }
            td data-label="Host" {
                div {
                    (r.cores) " cores"
                    @if let Some(ip) = &r.ip { br; span.mono { (ip) } }
                    @if let Some(v) = &r.version { br; "version " span.mono { (v) } }
                }
            }
            td data-label="Last renewal" { div { (ago(now, UnixMillis(r.last_renewed_ms))) } }
            td data-label="Clock skew" {
                div { (r.client_skew_ms.map_or_else(|| "not sent".to_owned(), offset)) }
            }
            td.id data-label="Grant id" { div.mono { (r.grant_id) } }
            @if ctx.role.may_act() {
                td.actions data-label="Actions" {
                    div {
                        a href={"/ui/actions/revoke?grant=" (r.grant_id)} { "Revoke…" }
                        " "
                        a href={"/ui/actions/release?environment=" (r.environment) "&product=" (r.product)
                            "&hostname=" (r.hostname) "&port=" (r.port)} { "Release…" }
                    }
                }
            }
        }
    }
}

pub fn render(m: &Model, ctx: &Ctx) -> Markup {
    let body = html! {
        (filters(m))
        @if m.rows.is_empty() {
            p.card { "No held grant matches on this page." }
        } @else {
            div.scroll {
                table.grants {
                    thead {
                        tr {
                            th { "State" } th { "Instance" } th { "Host" } th { "Last renewal" }
                            th { "Clock skew" } th { "Grant id" }
                            @if ctx.role.may_act() { th { "Actions" } }
                        }
                    }
                    tbody { @for r in &m.rows { (row(r, m, ctx)) } }
                }
            }
        }
        nav.pager {
            @if m.query.after.is_some() {
                a href=(m.query.link(None)) { "First page" }
            }
            @if let Some(next) = &m.next {
                a href=(m.query.link(Some(next))) { "Next page" }
            }
        }
    };
    page("Grants", ctx, Some(Nav::Grants), body)
}

#[cfg(test)]
mod tests {
    use super::super::form::urlencoded;
    use super::super::overview::tests::{HOSTILE, assert_escaped, ctx};
    use super::*;
    use crate::auth::Role;

    fn model() -> Model {
        let row = Row {
            grant_id: HOSTILE.into(),
            environment: HOSTILE.into(),
            product: "vdp".into(),
            hostname: HOSTILE.into(),
            port: 9999,
            cores: 8,
            ip: Some("10.0.0.5".into()),
            version: Some(HOSTILE.into()),
            grace: true,
            last_renewed_ms: 1_000_000,
            client_skew_ms: Some(1500),
        };
        Model {
            query: Query::default(),
            pools: vec![(HOSTILE.into(), "vdp".into())],
            rows: vec![row],
            next: Some("00".repeat(16)),
            now_ms: 1_000_000 + 3_600_000,
            grace_period_s: 5 * 86_400,
        }
    }

    #[test]
    fn hostile_strings_are_escaped_for_both_roles() {
        for role in [Role::Viewer, Role::Admin] {
            let html = render(&model(), &ctx(role)).into_string();
            assert_escaped(&html);
            assert!(
                html.contains("in grace") && html.contains("4 d 23 h left"),
                "{html}"
            );
            assert!(
                html.contains("+1.500 s") && html.contains("1 h 0 min ago"),
                "{html}"
            );
            assert!(html.contains("Next page"), "{html}");
            assert_eq!(html.contains("Revoke…"), role == Role::Admin, "{html}");
        }
    }

    #[test]
    fn queries_parse_and_link_back() {
        let id = "0123456789abcdef0123456789abcdef";
        let q = Query::parse(&urlencoded(&format!(
            "pool=production/vdp&state=grace&after={id}"
        )));
        assert_eq!(q.pool, Some(("production".into(), "vdp".into())));
        assert_eq!(q.state, Some(StateFilter::Grace));
        assert!(q.after.is_some());
        assert_eq!(
            q.link(Some("ff")),
            "/ui/grants?pool=production/vdp&state=grace&after=ff"
        );
        assert_eq!(
            Query::parse(&urlencoded("state=nope&pool=x&after=zz")),
            Query::default()
        );
    }
}
