//! Overview: the license and its countdown, each pool against its limits,
//! the managers, and the warnings `/v1/health` gives.

use super::layout::{Ctx, Nav, ago, offset, page, span, when};
use super::svg;
use crate::node::HealthView;
use maud::{Markup, html};
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::wire::StatusView;

/// Warn about expiry when less than this is left.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, Clone)]
pub struct Pool {
    pub environment: String,
    pub product: String,
    pub servers: u64,
    pub total_cores: u64,
    pub max_servers: Option<u64>,
    pub max_cores_per_server: Option<u64>,
    pub max_total_cores: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Manager {
    pub node_id: String,
    pub live: bool,
    pub serving: bool,
    pub last_seen_ms: i64,
    pub clock_offset_ms: Option<i64>,
}

/// What the page shows, as plain strings: every one of them is escaped.
#[derive(Debug, Clone)]
pub struct Model {
    pub licensee: String,
    pub license_id: String,
    pub not_after_ms: i64,
    pub expires_in_s: u64,
    pub now_ms: i64,
    pub max_managers: u32,
    pub pools: Vec<Pool>,
    pub managers: Vec<Manager>,
    pub warnings: Vec<String>,
}

impl Model {
    pub fn new(status: &StatusView, health: &HealthView) -> Self {
        Self {
            licensee: status.licensee.clone(),
            license_id: status.license_id.clone(),
            not_after_ms: status.license_not_after_ms,
            expires_in_s: status.license_expires_in_s,
            now_ms: status.server_time_ms,
            max_managers: status.max_managers,
            pools: status
                .pools
                .iter()
                .map(|p| Pool {
                    environment: p.environment.to_string(),
                    product: p.product.to_string(),
                    servers: p.servers,
                    total_cores: p.total_cores,
                    max_servers: p.max_servers,
                    max_cores_per_server: p.max_cores_per_server,
                    max_total_cores: p.max_total_cores,
                })
                .collect(),
            managers: status
                .managers
                .iter()
                .map(|m| Manager {
                    node_id: m.node_id.clone(),
                    live: m.live,
                    serving: m.serving,
                    last_seen_ms: m.last_seen_ms,
                    clock_offset_ms: m.clock_offset_ms,
                })
                .collect(),
            warnings: health.warnings.clone(),
        }
    }
}

fn limit(max: Option<u64>) -> String {
    max.map_or_else(|| "unlimited".to_owned(), |m| m.to_string())
}

fn license(m: &Model) -> Markup {
    let left = Duration::from_secs(m.expires_in_s);
    let expired = m.expires_in_s == 0;
    let soon = !expired && left < EXPIRY_WARNING;
    html! {
        section.card #license {
            h2 { "License" }
            dl {
                dt { "Licensee" } dd { (m.licensee) }
                dt { "License id" } dd.mono { (m.license_id) }
                dt { "Expires" } dd { (when(UnixMillis(m.not_after_ms))) }
                dt { "Time left" }
                dd.countdown.warn[soon].bad[expired] {
                    @if expired { "expired" } @else { (span(left)) }
                }
                dt { "Managers allowed" } dd { (m.max_managers) }
            }
            @if expired {
                p.warning role="alert" {
                    "The license has expired: grants and renewals are refused. Install a new one."
                }
            } @else if soon {
                p.warning role="alert" {
                    "The license expires in less than 30 days (" (span(left)) "). Ask your vendor for a new one."
                }
            }
        }
    }
}

fn pool(p: &Pool) -> Markup {
    let name = format!("{}/{}", p.environment, p.product);
    html! {
        section.card.pool {
            h3.mono { (name) }
            div.meter {
                span.what { "Servers" }
                (svg::bar(&format!("{name} servers"), p.servers, p.max_servers))
                span.figure { (p.servers) " of " (limit(p.max_servers)) }
            }
            div.meter {
                span.what { "Cores" }
                (svg::bar(&format!("{name} cores"), p.total_cores, p.max_total_cores))
                span.figure { (p.total_cores) " of " (limit(p.max_total_cores)) }
            }
            p.hint {
                @match p.max_cores_per_server {
                    Some(m) => { "At most " (m) " cores per server." }
                    None => { "No limit on cores per server." }
                }
            }
        }
    }
}

fn managers(m: &Model) -> Markup {
    let now = UnixMillis(m.now_ms);
    html! {
        section.card #managers {
            h2 { "Managers" }
            div.scroll {
                table {
                    thead { tr { th { "Node" } th { "Live" } th { "Serving" } th { "Last seen" } th { "Clock offset" } } }
                    tbody {
                        @for r in &m.managers {
                            tr {
                                td.mono { (r.node_id) }
                                td { @if r.live { "yes" } @else { span.bad { "no" } } }
                                td { @if r.serving { "yes" } @else { "no" } }
                                td { (ago(now, UnixMillis(r.last_seen_ms))) }
                                td { (r.clock_offset_ms.map_or_else(|| "unknown".to_owned(), offset)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn render(m: &Model, ctx: &Ctx) -> Markup {
    let body = html! {
        @if !m.warnings.is_empty() {
            section.card.warnings #warnings {
                h2 { "Warnings" }
                ul { @for w in &m.warnings { li { (w) } } }
            }
        }
        (license(m))
        h2 { "Pools" }
        @if m.pools.is_empty() {
            p { "The license names no pool." }
        }
        div.pools { @for p in &m.pools { (pool(p)) } }
        (managers(m))
    };
    page("Overview", ctx, Some(Nav::Overview), body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::Role;

    pub const HOSTILE: &str = "<script>alert(\"x\")</script> & 'q'";

    pub fn ctx(role: Role) -> Ctx {
        Ctx {
            name: "alice".into(),
            role,
            csrf: "c".repeat(64),
            notice: Some(HOSTILE.into()),
        }
    }

    /// No raw hostile markup, and the escaped form present.
    pub fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>"), "raw script tag in {html}");
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'q'"),
            "escaped text missing in {html}"
        );
    }

    fn model() -> Model {
        Model {
            licensee: HOSTILE.into(),
            license_id: HOSTILE.into(),
            not_after_ms: 1_000_000_000,
            expires_in_s: 3 * 86_400,
            now_ms: 999_000_000,
            max_managers: 2,
            pools: vec![Pool {
                environment: HOSTILE.into(),
                product: "vdp".into(),
                servers: 3,
                total_cores: 24,
                max_servers: Some(4),
                max_cores_per_server: Some(16),
                max_total_cores: None,
            }],
            managers: vec![Manager {
                node_id: HOSTILE.into(),
                live: true,
                serving: true,
                last_seen_ms: 998_999_000,
                clock_offset_ms: Some(-12),
            }],
            warnings: vec![HOSTILE.into()],
        }
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let html = render(&model(), &ctx(Role::Viewer)).into_string();
        assert_escaped(&html);
        assert!(
            html.contains("3 of 4") && html.contains("24 of unlimited"),
            "{html}"
        );
        assert!(html.contains("less than 30 days"), "{html}");
        assert!(html.contains("3 d 0 h"), "{html}");
        assert!(
            !html.contains("/ui/actions"),
            "a viewer sees no actions: {html}"
        );
        assert!(
            render(&model(), &ctx(Role::Admin))
                .into_string()
                .contains("/ui/actions")
        );
    }

    #[test]
    fn an_expired_license_says_so() {
        let mut m = model();
        m.expires_in_s = 0;
        let html = render(&m, &ctx(Role::Viewer)).into_string();
        assert!(html.contains("has expired"), "{html}");
        m.expires_in_s = 40 * 86_400;
        let html = render(&m, &ctx(Role::Viewer)).into_string();
        assert!(!html.contains("has expired") && !html.contains("less than 30 days"));
    }
}
