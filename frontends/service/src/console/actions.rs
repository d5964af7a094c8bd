//! Actions (admin only): release an instance, revoke a grant, install a
//! license. Each form leads to a confirmation page that says what will
//! happen; only its button, a POST carrying the session's form token, acts.

use super::grants::Row;
use super::layout::{Ctx, Nav, csrf_field, page, when};
use maud::{Markup, html};
use tenure_core::UnixMillis;

fn grant_facts(g: &Row) -> Markup {
    html! {
        dl {
            dt { "Grant id" } dd.mono { (g.grant_id) }
            dt { "Instance" } dd.mono { (g.environment) "/" (g.product) " " (g.hostname) ":" (g.port) }
            dt { "Cores" } dd { (g.cores) }
            dt { "State" } dd { @if g.grace { "in grace (not renewed lately)" } @else { "active" } }
        }
    }
}

/// The forms of the actions page.
pub fn render(ctx: &Ctx) -> Markup {
    let body = html! {
        section.card #revoke {
            h2 { "Revoke a grant" }
            p { "The slot is freed at once; the component hears " code { "revoked" }
                " at its next renewal and stops." }
            form.grid method="get" action="/ui/actions/revoke" {
                label for="grant" { "Grant id" }
                input #grant name="grant" required pattern="[0-9a-fA-F]{32}" size="34"
                    autocomplete="off";
                button type="submit" { "Review…" }
            }
        }
        section.card #release {
            h2 { "Release an instance" }
            p { "For a server that is gone: its slot is freed at once instead of at its deadline." }
            form.grid method="get" action="/ui/actions/release" {
                label for="environment" { "Environment" }
                input #environment name="environment" value="production" required;
                label for="product" { "Product" }
                input #product name="product" required;
                label for="hostname" { "Host name" }
                input #hostname name="hostname" required;
                label for="port" { "Port" }
                input #port name="port" type="number" min="1" max="65535" required;
                button type="submit" { "Review…" }
            }
        }
        section.card #install {
            h2 { "Install a license" }
            p { "Paste the license text or choose its file. You will see what changes before it is installed." }
            form method="post" action="/ui/actions/license/check" enctype="multipart/form-data" {
                (csrf_field(ctx))
                label for="license_text" { "License text" }
                textarea #license_text name="license_text" rows="6"
                    placeholder="-----BEGIN TENURE LICENSE-----" {}
                label for="license_file" { "or license file" }
                input #license_file type="file" name="license_file" accept=".lic,text/plain";
                button type="submit" { "Review…" }
            }
        }
    };
    page("Actions", ctx, Some(Nav::Actions), body)
}

fn cancel() -> Markup {
    html! { a.button.secondary href="/ui/actions" { "Cancel" } }
}

/// Confirmation of a revocation; `grant` is `None` when no held grant has the id.
pub fn confirm_revoke(ctx: &Ctx, id: &str, grant: Option<&Row>, renew_every_s: u64) -> Markup {
    let body = html! {
        @match grant {
            None => {
                p.error { "No held grant has the id " span.mono { (id) } "." }
                p { a href="/ui/grants" { "See the held grants" } }
            }
            Some(g) => {
                section.card {
                    (grant_facts(g))
                    p.warning {
                        "Revoking frees this slot now. The component running on "
                        span.mono { (g.hostname) ":" (g.port) }
                        " is told " code { "revoked" } " at its next renewal (within "
                        (renew_every_s) " s) and stops; its agent exits."
                    }
                    form method="post" action="/ui/actions/revoke" {
                        (csrf_field(ctx))
                        input type="hidden" name="grant" value=(g.grant_id);
                        button.danger type="submit" { "Revoke this grant" }
                        " " (cancel())
                    }
                }
            }
        }
    };
    page("Revoke a grant?", ctx, Some(Nav::Actions), body)
}

/// The instance a release names, as the form gave it.
#[derive(Debug, Clone)]
pub struct Target {
    pub environment: String,
    pub product: String,
    pub hostname: String,
    pub port: u16,
}

/// Confirmation of a release; `held` is the instance's grant, if it has one.
pub fn confirm_release(ctx: &Ctx, t: &Target, held: Option<&Row>) -> Markup {
    let name = format!("{}/{} {}:{}", t.environment, t.product, t.hostname, t.port);
    let body = html! {
        @match held {
            None => {
                p.error { "The instance " span.mono { (name) } " holds no grant." }
                p { a href="/ui/grants" { "See the held grants" } }
            }
            Some(g) => {
                section.card {
                    (grant_facts(g))
                    p.warning {
                        "Releasing frees the slot of " span.mono { (name) } " now. Do this only for a server "
                        "that is gone: if its component still runs, its next renewal is answered "
                        code { "unknown_grant" } " and it asks for a new grant, which a full pool refuses."
                    }
                    form method="post" action="/ui/actions/release" {
                        (csrf_field(ctx))
                        input type="hidden" name="environment" value=(t.environment);
                        input type="hidden" name="product" value=(t.product);
                        input type="hidden" name="hostname" value=(t.hostname);
                        input type="hidden" name="port" value=(t.port);
                        button.danger type="submit" { "Release this instance" }
                        " " (cancel())
                    }
                }
            }
        }
    };
    page("Release an instance?", ctx, Some(Nav::Actions), body)
}

/// A pool of the new license against what is held in it now.
#[derive(Debug, Clone)]
pub struct PoolChange {
    pub pool: String,
    pub servers: u64,
    pub total_cores: u64,
    pub max_servers: Option<u64>,
    pub max_total_cores: Option<u64>,
}

/// What installing an uploaded license would do.
#[derive(Debug, Clone)]
pub struct LicensePreview {
    pub license_id: String,
    pub licensee: String,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub max_managers: u32,
    pub current_id: Option<String>,
    pub pools: Vec<PoolChange>,
    /// Pools held now that the new license drops, with their grant counts.
    pub dropped: Vec<(String, u64)>,
    /// Up to a page of the grants the dropped pools hold.
    pub ending: Vec<Row>,
    /// The armoured text, carried to the install form.
    pub text: String,
}

/// `1 grant`, `3 grants`.
fn grants(n: u64) -> String {
    if n == 1 {
        "1 grant".into()
    } else {
        format!("{n} grants")
    }
}

fn limit(m: Option<u64>) -> String {
    m.map_or_else(|| "unlimited".into(), |m| m.to_string())
}

fn over(used: u64, max: Option<u64>) -> bool {
    max.is_some_and(|m| used > m)
}

/// The license check's answer: what changes, or why it cannot be installed.
pub fn confirm_license(ctx: &Ctx, preview: Result<&LicensePreview, String>) -> Markup {
    let body = match preview {
        Err(why) => html! {
            p.error role="alert" { "This license cannot be installed: " (why) }
            p { "The license in use stays." } p { (cancel()) }
        },
        Ok(p) => {
            let ending: u64 = p.dropped.iter().map(|(_, n)| n).sum();
            html! {
                section.card {
                    dl {
                        dt { "License id" } dd.mono { (p.license_id) }
                        dt { "Licensee" } dd { (p.licensee) }
                        dt { "Valid" } dd { (when(UnixMillis(p.not_before_ms))) " to " (when(UnixMillis(p.not_after_ms))) }
                        dt { "Managers allowed" } dd { (p.max_managers) }
                        dt { "Replaces" } dd.mono { (p.current_id.as_deref().unwrap_or("no license")) }
                    }
                    h2 { "Pools" }
                    div.scroll {
                        table {
                            thead { tr { th { "Pool" } th { "Servers held / new limit" } th { "Cores held / new limit" } } }
                            tbody {
                                @for c in &p.pools {
                                    tr {
                                        td.mono { (c.pool) }
                                        td.bad[over(c.servers, c.max_servers)] { (c.servers) " / " (limit(c.max_servers)) }
                                        td.bad[over(c.total_cores, c.max_total_cores)] { (c.total_cores) " / " (limit(c.max_total_cores)) }
                                    }
                                }
                            }
                        }
                    }
                    @if p.pools.iter().any(|c| over(c.servers, c.max_servers) || over(c.total_cores, c.max_total_cores)) {
                        p.warning { "Pools marked red hold more than the new limits: running components keep their grants, new grants are refused until use fits." }
                    }
                    @if !p.dropped.is_empty() {
                        h2 { "Pools this license drops" }
                        p.warning role="alert" {
                            (grants(ending)) " will end: each is refused at its next renewal and its component stops."
                        }
                        ul { @for (pool, n) in &p.dropped { li { span.mono { (pool) } ": " (grants(*n)) } } }
                        div.scroll {
                            table {
                                thead { tr { th { "Instance" } th { "Grant id" } } }
                                tbody {
                                    @for g in &p.ending {
                                        tr {
                                            td.mono { (g.environment) "/" (g.product) " " (g.hostname) ":" (g.port) }
                                            td.mono { (g.grant_id) }
                                        }
                                    }
                                }
                            }
                        }
                        @if (p.ending.len() as u64) < ending {
                            p.hint { "Showing " (p.ending.len()) " of " (ending) "." }
                        }
                    }
                    form method="post" action="/ui/actions/license" {
                        (csrf_field(ctx))
                        input type="hidden" name="license" value=(p.text);
                        button.danger type="submit" { "Install this license" }
                        " " (cancel())
                    }
                }
            }
        }
    };
    page("Install this license?", ctx, Some(Nav::Actions), body)
}

#[cfg(test)]
mod tests {
    use super::super::overview::tests::{HOSTILE, assert_escaped, ctx};
    use super::*;
    use crate::auth::Role;

    fn row() -> Row {
        Row {
            grant_id: HOSTILE.into(),
            environment: HOSTILE.into(),
            product: "vdp".into(),
            hostname: HOSTILE.into(),
            port: 1,
            cores: 2,
            ip: None,
            version: None,
            grace: false,
            last_renewed_ms: 0,
            client_skew_ms: None,
        }
    }

    #[test]
    fn every_action_page_escapes_and_carries_the_form_token() {
        let c = ctx(Role::Admin);
        let target = Target {
            environment: HOSTILE.into(),
            product: "vdp".into(),
            hostname: HOSTILE.into(),
            port: 1,
        };
        let preview = LicensePreview {
            license_id: HOSTILE.into(),
            licensee: HOSTILE.into(),
            not_before_ms: 0,
            not_after_ms: 1,
            max_managers: 1,
            current_id: Some(HOSTILE.into()),
            pools: vec![PoolChange {
                pool: HOSTILE.into(),
                servers: 5,
                total_cores: 1,
                max_servers: Some(4),
                max_total_cores: None,
            }],
            dropped: vec![(HOSTILE.into(), 2)],
            ending: vec![row()],
            text: HOSTILE.into(),
        };
        let pages = [
            render(&c),
            confirm_revoke(&c, HOSTILE, Some(&row()), 300),
            confirm_revoke(&c, HOSTILE, None, 300),
            confirm_release(&c, &target, Some(&row())),
            confirm_release(&c, &target, None),
            confirm_license(&c, Ok(&preview)),
            confirm_license(&c, Err(HOSTILE.into())),
        ];
        for p in pages {
            let html = p.into_string();
            assert_escaped(&html);
            assert!(
                html.contains(&format!(r#"name="csrf" value="{}""#, c.csrf)),
                "{html}"
            );
        }
        let html = confirm_license(&c, Ok(&preview)).into_string();
        assert!(
            html.contains("2 grants will end") && html.contains("Showing 1 of 2"),
            "{html}"
        );
        assert!(html.contains("hold more than the new limits"), "{html}");
    }
}
