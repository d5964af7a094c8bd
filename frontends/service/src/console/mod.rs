//! The web console at `/ui/`: server-rendered pages (maud), one small
//! stylesheet, no script. Both servers serve it through `Service`: the
//! frontends only pass the `Cookie` and `Sec-Fetch-Site` headers in and write
//! the answer's headers out.
//!
//! Sign-in takes a token of the admin token file and makes a session
//! (`session`); every form carries the session's synchroniser token; every
//! answer carries a Content-Security-Policy without script, `frame-ancestors
//! 'none'` and `X-Frame-Options: DENY` (`layout::secure`). A viewer sees; only
//! an admin acts.

pub mod actions;
pub mod audit;
pub mod chart;
pub mod form;
pub mod grants;
pub mod layout;
pub mod overview;
mod run;
pub mod session;
pub mod signin;
pub mod svg;
pub mod usage;

use crate::auth::{Caller, Tokens};
use crate::http::{self, Method, Request, Response};
use crate::service::Refused;
use form::Fields;
use layout::{Ctx, error, html_response, redirect, secure};
use session::{Key, Sessions, clear_cookie, same_secret, set_cookie};
use tenure_core::UnixMillis;
use tenure_core::wire::{AuditAction, AuditResult, MAX_BODY_BYTES};

pub use run::run;

const CSS: &str = include_str!("console.css");

/// The console's state: its sessions, and whether its cookies are `Secure`.
#[derive(Debug)]
pub struct Console {
    sessions: Sessions,
    secure: bool,
}

/// A page that reads or changes storage: the blocking half runs it.
#[derive(Debug, Clone)]
pub enum Page {
    Overview,
    Grants(grants::Query),
    Usage(usage::Query),
    UsageCsv(usage::Query),
    Audit(audit::Query),
    ConfirmRevoke(String),
    Revoke(String),
    ConfirmRelease(Fields),
    Release(Fields),
    CheckLicense(String),
    InstallLicense(String),
}

/// A signed-in request for a page that needs storage.
#[derive(Debug, Clone)]
pub struct Work {
    pub(crate) key: Key,
    pub(crate) ctx: Ctx,
    pub(crate) caller: Caller,
    pub(crate) page: Page,
}

impl Work {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// What the cheap half decided.
#[derive(Debug)]
pub enum Step {
    Done(Response),
    Work(Box<Work>),
    /// Refused: the blocking half records it in the audit trail (PROTOCOL
    /// 6.3) under the caller's token, if any, then answers it.
    Refused(Box<Refused>, Option<Caller>),
}

/// A refusal of a console page, as the audit trail names it.
fn refused(
    at: At,
    req: &Request,
    result: AuditResult,
    detail: &str,
    response: Response,
    caller: Option<Caller>,
) -> Step {
    let action = match at {
        At::Revoke => AuditAction::Revoke.as_str(),
        At::Release => AuditAction::Release.as_str(),
        At::CheckLicense | At::InstallLicense => AuditAction::InstallLicense.as_str(),
        At::SignIn => "sign_in",
        _ => "console",
    };
    let r = Refused::of_request(
        "console",
        action,
        req,
        result,
        Some(detail.into()),
        response,
    );
    Step::Refused(Box::new(r), caller)
}

/// The console's own routes, before the session is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Root,
    Css,
    SignIn,
    SignOut,
    Overview,
    Grants,
    Usage,
    UsageCsv,
    Audit,
    Actions,
    Revoke,
    Release,
    CheckLicense,
    InstallLicense,
}

fn locate(path: &str) -> Option<At> {
    Some(match path {
        "/ui" => At::Root,
        "/ui/static/console.css" => At::Css,
        "/ui/signin" => At::SignIn,
        "/ui/signout" => At::SignOut,
        "/ui/" => At::Overview,
        "/ui/grants" => At::Grants,
        "/ui/usage" => At::Usage,
        "/ui/usage.csv" => At::UsageCsv,
        "/ui/audit" => At::Audit,
        "/ui/actions" => At::Actions,
        "/ui/actions/revoke" => At::Revoke,
        "/ui/actions/release" => At::Release,
        "/ui/actions/license/check" => At::CheckLicense,
        "/ui/actions/license" => At::InstallLicense,
        _ => return None,
    })
}

/// The methods a route takes, for `Allow`.
fn allowed(at: At) -> &'static str {
    match at {
        At::Root
        | At::Css
        | At::Overview
        | At::Grants
        | At::Usage
        | At::UsageCsv
        | At::Audit
        | At::Actions => "GET, HEAD",
        At::SignIn | At::Revoke | At::Release => "GET, HEAD, POST",
        At::SignOut | At::CheckLicense | At::InstallLicense => "POST",
    }
}

fn method_ok(at: At, m: Method) -> bool {
    let allow = allowed(at);
    match m {
        Method::Get | Method::Head => allow.contains("GET"),
        Method::Post => allow.contains("POST"),
        _ => false,
    }
}

fn forbidden(message: &str, ctx: Option<&Ctx>) -> Response {
    error(403, "Not allowed", message, ctx)
}

impl Console {
    /// `secure`: the manager is reached over HTTPS (its own TLS, or a
    /// TLS-terminating proxy in front of `--allow-plaintext`), so the
    /// session cookie is `Secure`.
    pub fn new(secure: bool) -> Self {
        Self {
            sessions: Sessions::default(),
            secure,
        }
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The cheap half of a console request: no storage, never blocks.
    /// `random` gives 16 bytes from the OS each call.
    pub fn prepare(
        &self,
        req: &Request,
        tokens: &Tokens,
        now: UnixMillis,
        random: &dyn Fn() -> [u8; 16],
    ) -> Step {
        let Some(at) = locate(&req.path) else {
            return Step::Done(error(404, "Not found", "There is no such page.", None));
        };
        if !method_ok(at, req.method) {
            let mut r = error(
                405,
                "Method not allowed",
                "This page does not take that method.",
                None,
            );
            r.allow = Some(allowed(at));
            return Step::Done(r);
        }
        if req.body.len() > MAX_BODY_BYTES {
            return Step::Done(error(
                413,
                "Too large",
                "The form is larger than 16 KiB.",
                None,
            ));
        }
        let post = req.method == Method::Post;
        // A browser says where a form came from; one from another origin
        // (another site, or another port of this host) never acts here,
        // whatever cookies it carried. The form token below is the check
        // for browsers that do not say.
        if post
            && req
                .fetch_site
                .as_deref()
                .is_some_and(|s| !matches!(s.trim(), "same-origin" | "none"))
        {
            return Step::Done(forbidden("Forms from other sites are refused.", None));
        }
        match at {
            At::Root => {
                return Step::Done(secure(Response::empty(308).with_header("location", "/ui/")));
            }
            At::Css => {
                return Step::Done(secure(Response {
                    content_type: Some(http::CSS),
                    body: CSS.as_bytes().to_vec(),
                    ..Response::empty(200)
                }));
            }
            At::SignIn if post => {
                let answer = self.sign_in(req, tokens, now, random);
                if answer.status != 401 {
                    return Step::Done(answer);
                }
                let why = "token not in the token file";
                return refused(at, req, AuditResult::Unauthorized, why, answer, None);
            }
            At::SignIn => return Step::Done(signin::page(200, None)),
            _ => {}
        }
        let Some((key, s)) = self.sessions.find(req.cookie.as_deref(), now) else {
            return Step::Done(if post {
                forbidden("Sign in first: this form is not part of a session.", None)
            } else {
                redirect("/ui/signin")
            });
        };
        let fields = if post {
            match form::body(req.content_type.as_deref(), &req.body) {
                Some(f) => f,
                None => {
                    return Step::Done(error(400, "Bad form", "The form could not be read.", None));
                }
            }
        } else {
            form::urlencoded(req.query.as_deref().unwrap_or(""))
        };
        let ctx = Ctx {
            name: s.caller.name.to_string(),
            role: s.caller.role,
            csrf: s.csrf.clone(),
            notice: None,
        };
        let admin_only = !matches!(
            at,
            At::Overview | At::Grants | At::Usage | At::UsageCsv | At::Audit | At::SignOut
        );
        if admin_only && !s.caller.role.may_act() {
            let answer = forbidden(
                "Only an admin token may act; this session's token is a viewer.",
                Some(&ctx),
            );
            let why = format!("role {}", s.caller.role);
            return refused(
                at,
                req,
                AuditResult::Forbidden,
                &why,
                answer,
                Some(s.caller),
            );
        }
        if post && !fields.get("csrf").is_some_and(|t| same_secret(t, &s.csrf)) {
            return Step::Done(forbidden(
                "The form is stale or did not come from this console; open the page again.",
                Some(&ctx),
            ));
        }
        let ctx = Ctx {
            notice: self.sessions.take_notice(key),
            ..ctx
        };
        let page = match at {
            At::SignOut => {
                self.sessions.remove(key);
                tracing::info!(token = %s.caller.name, "console sign-out");
                return Step::Done(
                    redirect("/ui/signin").with_header("set-cookie", clear_cookie(self.secure)),
                );
            }
            At::Actions => return Step::Done(html_response(200, actions::render(&ctx))),
            At::Overview => Page::Overview,
            At::Grants => Page::Grants(grants::Query::parse(&fields)),
            At::Usage | At::UsageCsv => match usage::Query::parse(&fields) {
                Ok(q) if at == At::Usage => Page::Usage(q),
                Ok(q) => Page::UsageCsv(q),
                Err(why) => return Step::Done(error(400, "Not a usage span", &why, Some(&ctx))),
            },
            At::Audit => match audit::Query::parse(&fields) {
                Ok(q) => Page::Audit(q),
                Err(why) => return Step::Done(error(400, "Not an audit page", &why, Some(&ctx))),
            },
            At::Revoke => {
                let id = fields.value("grant").unwrap_or("").to_owned();
                if post {
                    Page::Revoke(id)
                } else {
                    Page::ConfirmRevoke(id)
                }
            }
            At::Release if post => Page::Release(fields),
            At::Release => Page::ConfirmRelease(fields),
            At::CheckLicense => {
                // Untrimmed: a license ends with its final newline.
                let given = |name| fields.get(name).filter(|v| !v.trim().is_empty());
                let text = given("license_text")
                    .or_else(|| given("license_file"))
                    .unwrap_or("")
                    .to_owned();
                Page::CheckLicense(text)
            }
            At::InstallLicense => {
                Page::InstallLicense(fields.get("license").unwrap_or("").to_owned())
            }
            At::Root | At::Css | At::SignIn => {
                return Step::Done(error(
                    404,
                    "Not found",
                    "There is no such page.",
                    Some(&ctx),
                ));
            }
        };
        Step::Work(Box::new(Work {
            key,
            ctx,
            caller: s.caller,
            page,
        }))
    }

    fn sign_in(
        &self,
        req: &Request,
        tokens: &Tokens,
        now: UnixMillis,
        random: &dyn Fn() -> [u8; 16],
    ) -> Response {
        let fields = form::body(req.content_type.as_deref(), &req.body).unwrap_or_default();
        let Some(caller) = fields.get("token").and_then(|t| tokens.check_secret(t)) else {
            tracing::info!("console sign-in refused: unknown token");
            return signin::page(401, Some("That token is not in the token file."));
        };
        let mut bytes = [0u8; 64];
        for chunk in bytes.chunks_mut(16) {
            let Some(drawn) = crate::service::draw(random) else {
                // A session id is a credential: never a predictable one.
                return error(
                    503,
                    "Try again",
                    "The manager cannot draw a random session id right now.",
                    None,
                )
                .with_retry_after(2);
            };
            chunk.copy_from_slice(&drawn);
        }
        tracing::info!(token = %caller.name, role = %caller.role, "console sign-in");
        let id = self.sessions.create(caller, now, bytes);
        redirect("/ui/").with_header("set-cookie", set_cookie(&id, self.secure))
    }
}
