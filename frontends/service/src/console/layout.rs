//! The frame every console page shares (head, navigation, sign-out), the
//! security headers of every console answer, and small formatting helpers.

use crate::auth::Role;
use crate::http::{self, Response};
use maud::{DOCTYPE, Markup, html};
use std::time::Duration;
use tenure_core::UnixMillis;

/// No script at all, styles and images from this origin only, forms only to
/// this origin, never in a frame.
pub const CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub const STYLESHEET: &str = "/ui/static/console.css";

/// The signed-in user's view of a page: who, the form token, a notice.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub notice: Option<String>,
}

/// A page of the navigation: one entry and one module each, in the order
/// the header shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Grants,
    Usage,
    Audit,
    Actions,
}

impl Nav {
    const ALL: [Nav; 5] = [
        Nav::Overview,
        Nav::Grants,
        Nav::Usage,
        Nav::Audit,
        Nav::Actions,
    ];

    fn path(self) -> &'static str {
        match self {
            Self::Overview => "/ui/",
            Self::Grants => "/ui/grants",
            Self::Usage => "/ui/usage",
            Self::Audit => "/ui/audit",
            Self::Actions => "/ui/actions",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Grants => "Grants",
            Self::Usage => "Usage",
            Self::Audit => "Audit",
            Self::Actions => "Actions",
        }
    }

    fn shown_to(self, role: Role) -> bool {
        match self {
            Self::Actions => role.may_act(),
            Self::Overview | Self::Grants | Self::Usage | Self::Audit => role.may_read(),
        }
    }
}

/// Every console answer carries these.
pub fn secure(resp: Response) -> Response {
    resp.with_header("content-security-policy", CSP)
        .with_header("x-frame-options", "DENY")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
}

pub fn html_response(status: u16, page: Markup) -> Response {
    secure(Response {
        content_type: Some(http::HTML),
        body: page.into_string().into_bytes(),
        ..Response::empty(status)
    })
}

/// `303 See Other` to `to` (after a form post, or to the sign-in page).
pub fn redirect(to: &str) -> Response {
    secure(Response::empty(303).with_header("location", to))
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Tenure" }
            link rel="stylesheet" href=(STYLESHEET);
        }
    }
}

/// A page outside a session (sign-in, errors before sign-in).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "Tenure" } }
                main { (body) }
            }
        }
    }
}

/// A hidden field carrying the session's form token.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A page inside a session: navigation for the role, who is signed in, a
/// sign-out button, the notice if any.
pub fn page(title: &str, ctx: &Ctx, active: Option<Nav>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/ui/" { "Tenure" }
                    nav {
                        @for n in Nav::ALL.into_iter().filter(|n| n.shown_to(ctx.role)) {
                            @if Some(n) == active {
                                a.current href=(n.path()) aria-current="page" { (n.label()) }
                            } @else {
                                a href=(n.path()) { (n.label()) }
                            }
                        }
                    }
                    div.who {
                        span { (ctx.name) " (" (ctx.role.as_str()) ")" }
                        form method="post" action="/ui/signout" {
                            (csrf_field(ctx))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(n) = &ctx.notice {
                        p.notice role="status" { (n) }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An error page, inside the session when there is one.
pub fn error(status: u16, title: &str, message: &str, ctx: Option<&Ctx>) -> Response {
    let body = html! {
        p.error { (message) }
        p { a href="/ui/" { "Back to the overview" } }
    };
    let markup = match ctx {
        Some(c) => page(title, c, None, body),
        None => bare(title, html! { h1 { (title) } (body) }),
    };
    html_response(status, markup)
}

/// `3 d 4 h`, `5 h 12 min`, `7 min 3 s`, `42 s`: the two largest units.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else if mins > 0 {
        format!("{mins} min {secs} s")
    } else {
        format!("{secs} s")
    }
}

/// How long ago `then` was at `now`.
pub fn ago(now: UnixMillis, then: UnixMillis) -> String {
    let ms = u64::try_from(now.millis_since(then)).unwrap_or(0);
    format!("{} ago", span(Duration::from_millis(ms)))
}

/// An instant as RFC 3339 (UTC).
pub fn when(t: UnixMillis) -> String {
    tenure_core::rfc3339::display(t).to_string()
}

/// A signed offset in milliseconds, as seconds: `+1.250 s`.
pub fn offset(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", abs / 1000, abs % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_offsets() {
        assert_eq!(span(Duration::from_secs(42)), "42 s");
        assert_eq!(span(Duration::from_secs(7 * 60 + 3)), "7 min 3 s");
        assert_eq!(span(Duration::from_secs(5 * 3600 + 12 * 60)), "5 h 12 min");
        assert_eq!(span(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3 d 4 h");
        assert_eq!(offset(1250), "+1.250 s");
        assert_eq!(offset(-5), "-0.005 s");
        assert_eq!(ago(UnixMillis(10_000), UnixMillis(4_000)), "6 s ago");
        assert_eq!(ago(UnixMillis(0), UnixMillis(4_000)), "0 s ago");
    }

    #[test]
    fn error_pages_escape_their_message() {
        let ctx = Ctx {
            name: "alice".into(),
            role: Role::Viewer,
            csrf: "c".repeat(64),
            notice: None,
        };
        for c in [None, Some(&ctx)] {
            let r = error(400, "Bad <form>", "no \"<script>\" & more", c);
            let html = String::from_utf8(r.body).expect("utf-8");
            assert!(
                !html.contains("<script>") && !html.contains("<form>"),
                "{html}"
            );
            assert!(
                html.contains("no &quot;&lt;script&gt;&quot; &amp; more"),
                "{html}"
            );
        }
    }

    #[test]
    fn every_answer_carries_the_security_headers() {
        let r = redirect("/ui/signin");
        assert_eq!(r.status, 303);
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| *n).collect();
        for h in [
            "content-security-policy",
            "x-frame-options",
            "referrer-policy",
            "x-content-type-options",
            "location",
        ] {
            assert!(names.contains(&h), "{h} in {names:?}");
        }
        assert!(CSP.contains("frame-ancestors 'none'") && CSP.contains("script-src 'none'"));
    }
}
