//! Audit: the trail of admin actions and refused calls (PROTOCOL 6.3),
//! newest first, a page at a time with the same `AT.NUMBER` cursor as
//! `GET /v1/audit`.

use super::form::Fields;
use super::layout::{Ctx, Nav, page};
use crate::auth::Role;
use maud::{Markup, html};
use tenure_core::wire::{ANONYMOUS, AuditRow};
use tenure_storage::AuditCursor;

/// Rows shown per page.
pub const PAGE_ROWS: usize = 50;

/// The page's query: `after=AT.NUMBER`, the last row of the page before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query {
    pub after: Option<AuditCursor>,
}

impl Query {
    /// A cursor that does not parse is refused with the reason: reading on
    /// from somewhere else would look like a complete trail and not be one.
    pub fn parse(f: &Fields) -> Result<Self, String> {
        let after = f
            .value("after")
            .map(|a| a.parse::<AuditCursor>().map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Self { after })
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub at: String,
    pub token_name: String,
    /// The token's role in the token file now; `None` for `-` and for a
    /// name no longer in the file. The trail itself keeps no role.
    pub role: Option<Role>,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: Option<String>,
}

impl Row {
    pub fn new(r: AuditRow, role: Option<Role>) -> Self {
        Self {
            at: r.at,
            token_name: r.token_name,
            role,
            action: r.action,
            target: r.target,
            result: r.result,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub query: Query,
    pub rows: Vec<Row>,
    /// Where the next (older) page starts, when there may be one.
    pub next: Option<String>,
}

/// A refusal stands out from the actions that were taken.
fn refused(result: &str) -> bool {
    matches!(result, "unauthorized" | "forbidden" | "failed")
}

fn row(r: &Row) -> Markup {
    html! {
        tr {
            td.nowrap.mono data-label="Time" { (r.at) }
            td data-label="Token" { (r.token_name) }
            td data-label="Role" {
                @match (r.role, r.token_name == ANONYMOUS) {
                    (Some(role), _) => { (role.as_str()) }
                    (None, true) => span.hint { "no token" },
                    (None, false) => span.hint { "not in the token file" },
                }
            }
            td data-label="Action" { (r.action) }
            td.mono data-label="Target" { (r.target) }
            td data-label="Outcome" {
                @if refused(&r.result) { span.bad { (r.result) } } @else { (r.result) }
            }
            td data-label="Detail" { (r.detail.as_deref().unwrap_or("")) }
        }
    }
}

pub fn render(m: &Model, ctx: &Ctx) -> Markup {
    let body = html! {
        p.hint {
            "Every admin action and every refused call on an admin route, newest first, "
            "in storage time (UTC). Role is the token's role in the token file now."
        }
        @if m.rows.is_empty() {
            p.card { "The audit trail has no rows here." }
        } @else {
            div.scroll {
                table.audit {
                    thead {
                        tr {
                            th { "Time" } th { "Token" } th { "Role" } th { "Action" }
                            th { "Target" } th { "Outcome" } th { "Detail" }
                        }
                    }
                    tbody { @for r in &m.rows { (row(r)) } }
                }
            }
        }
        nav.pager {
            @if m.query.after.is_some() {
                a href="/ui/audit" { "Newest" }
            }
            @if let Some(next) = &m.next {
                a href={"/ui/audit?after=" (next)} { "Next page" }
            }
        }
    };
    page("Audit trail", ctx, Some(Nav::Audit), body)
}

#[cfg(test)]
mod tests {
    use super::super::form::urlencoded;
    use super::super::overview::tests::{HOSTILE, assert_escaped, ctx};
    use super::*;
    use tenure_core::UnixMillis;
    use tenure_core::wire::{AuditEntry, AuditResult};

    fn model() -> Model {
        let entry =
            AuditEntry::new(HOSTILE, HOSTILE, HOSTILE, AuditResult::Forbidden).with_detail(HOSTILE);
        let anonymous = AuditEntry::new(
            ANONYMOUS,
            "status",
            "GET /v1/status",
            AuditResult::Unauthorized,
        );
        Model {
            query: Query {
                after: Some(AuditCursor { at_ms: 5, id: 2 }),
            },
            rows: vec![
                Row::new(AuditRow::new(UnixMillis(1_000), entry), None),
                Row::new(AuditRow::new(UnixMillis(900), anonymous), None),
            ],
            next: Some("900.1".into()),
        }
    }

    #[test]
    fn hostile_strings_are_escaped_for_both_roles() {
        for role in [Role::Viewer, Role::Admin] {
            let html = render(&model(), &ctx(role)).into_string();
            assert_escaped(&html);
            assert!(html.contains("1970-01-01T00:00:01"), "{html}");
            assert!(html.contains("not in the token file") && html.contains("no token"));
            assert!(html.contains(r#"href="/ui/audit?after=900.1""#), "{html}");
            assert!(
                html.contains(r#"<span class="bad">forbidden</span>"#),
                "{html}"
            );
        }
    }

    #[test]
    fn cursors_parse_or_are_refused() {
        let q = Query::parse(&urlencoded("after=1700000000000.42")).expect("cursor");
        assert_eq!(
            q.after,
            Some(AuditCursor {
                at_ms: 1_700_000_000_000,
                id: 42
            })
        );
        assert_eq!(Query::parse(&urlencoded("")), Ok(Query::default()));
        for bad in ["after=12", "after=a.b", "after=<script>"] {
            assert!(Query::parse(&urlencoded(bad)).is_err(), "{bad}");
        }
    }
}
