//! The audit trail on the request path (PROTOCOL 6.3). An admin action runs
//! through the manager's audited calls, which write its row in the action's
//! own transaction. A call refused on an admin route (401, 403) or whose
//! input cannot be read becomes a small job that writes its row and then
//! answers the refusal, whatever became of the row: the refusal is the
//! answer either way, and the log says when a row was not written.

use super::{Job, Outcome, Prepared, Service, failure};
use crate::auth::Caller;
use crate::http::{Method, Request, Response, path_for_log};
use crate::route::Route;
use tenure_core::wire::{ANONYMOUS, AuditAction, AuditEntry, AuditResult, Instance};
use tenure_core::{ErrorCode, GrantId};
use tenure_storage::{AUDIT_PRUNE_BATCH, Actor, InstallError, Installed, Store, instance_target};

/// A call answered without acting, and the row it leaves.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The route's label, for metrics.
    pub label: &'static str,
    pub action: &'static str,
    pub target: String,
    pub result: AuditResult,
    pub detail: Option<String>,
    pub response: Response,
}

impl Refused {
    /// A refusal of `req`, named by the route as called.
    pub fn of_request(
        label: &'static str,
        action: &'static str,
        req: &Request,
        result: AuditResult,
        detail: Option<String>,
        response: Response,
    ) -> Self {
        Self {
            label,
            action,
            target: route_target(req),
            result,
            detail,
            response,
        }
    }

    /// The row, naming `caller`'s token or [`ANONYMOUS`].
    pub fn entry(&self, caller: Option<&Caller>) -> AuditEntry {
        let e = AuditEntry::new(token_name(caller), self.action, &self.target, self.result);
        match &self.detail {
            Some(d) => e.with_detail(d),
            None => e,
        }
    }
}

pub(crate) fn token_name(caller: Option<&Caller>) -> &str {
    caller.map_or(ANONYMOUS, |c| &c.name)
}

/// The name a route's calls have in the trail.
pub(crate) fn action_of(r: &Route) -> &'static str {
    match r {
        Route::Revoke(_) => AuditAction::Revoke.as_str(),
        Route::AdminRelease => AuditAction::Release.as_str(),
        Route::PutLicense => AuditAction::InstallLicense.as_str(),
        other => other.label(),
    }
}

/// A refusal's target: the route as called, a grant id in it shortened as
/// in the log (an unauthenticated caller does not get to store one).
fn route_target(req: &Request) -> String {
    let method = match req.method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Other => "OTHER",
    };
    format!("{method} {}", path_for_log(&req.path))
}

/// Input of an admin action that cannot be read: answered with `response`,
/// recorded as `result` on `target`.
pub(crate) fn unread(r: &Route, target: &str, result: AuditResult, response: Response) -> Prepared {
    let detail = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned));
    Prepared::job(Job::Refused(Box::new(Refused {
        label: r.label(),
        action: action_of(r),
        target: target.to_owned(),
        result,
        detail,
        response,
    })))
}

impl<S: Store> Service<S> {
    /// What `prepare` answers when `admit` refused `r`: a 401 or 403 on an
    /// admin route leaves a row; anything else (413, 415, 503) is answered
    /// at once.
    pub(super) fn refusal(&self, r: &Route, req: &Request, response: Response) -> Prepared {
        let result = match response.status {
            401 if r.is_admin() => AuditResult::Unauthorized,
            403 if r.is_admin() => AuditResult::Forbidden,
            _ => return Prepared::Done(response),
        };
        // A 403 went to a valid token: the trail names it. A 401 names
        // none, and says only whether a token was presented.
        let caller = (result == AuditResult::Forbidden)
            .then(|| self.tokens.authenticate(req.authorization.as_deref()))
            .flatten();
        let detail = match (result, req.authorization.is_some()) {
            (AuditResult::Unauthorized, false) => Some("no token".to_owned()),
            (AuditResult::Unauthorized, true) => Some("token not in the token file".to_owned()),
            _ => caller.as_ref().map(|c| format!("role {}", c.role)),
        };
        let refused = Refused::of_request(r.label(), action_of(r), req, result, detail, response);
        Prepared::Job(super::Call {
            job: Job::Refused(Box::new(refused)),
            caller,
        })
    }

    pub(super) fn refused(&self, r: &Refused, caller: Option<&Caller>) -> (Response, Outcome) {
        self.manager.record(&r.entry(caller));
        (r.response.clone(), Outcome::Other)
    }

    /// `DELETE /v1/admin/grants/{id}`, audited for `caller`.
    pub(super) fn revoke(&self, id: GrantId, caller: Option<&Caller>) -> (Response, Outcome) {
        let actor = Actor::new(token_name(caller));
        match self.manager.revoke_by(actor, id) {
            Ok(()) => {
                tracing::info!(token = actor.token_name, grant = %id.short(), "grant revoked");
                (Response::empty(204), Outcome::Other)
            }
            Err(e) => failure(&e),
        }
    }

    /// `POST /v1/admin/release`, audited for `caller`.
    pub(super) fn admin_release(
        &self,
        i: &Instance,
        caller: Option<&Caller>,
    ) -> (Response, Outcome) {
        let actor = Actor::new(token_name(caller));
        match self.manager.admin_release_by(actor, i) {
            Ok(()) => {
                let target = instance_target(i);
                tracing::info!(token = actor.token_name, instance = %target, "instance released");
                (Response::empty(204), Outcome::Other)
            }
            Err(e) => failure(&e),
        }
    }

    /// `PUT /v1/license`, audited for `caller`.
    pub(super) fn put_license(&self, text: &str, caller: Option<&Caller>) -> (Response, Outcome) {
        let actor = Actor::new(token_name(caller));
        match self.manager.install_license_by(actor, text) {
            Ok(installed) => {
                tracing::info!(
                    token = actor.token_name,
                    ?installed,
                    "license installed through the admin API"
                );
                let (Installed::Installed { license_id } | Installed::KeptStored { license_id }) =
                    installed;
                (
                    Response::json(200, &serde_json::json!({ "license_id": license_id })),
                    Outcome::Other,
                )
            }
            Err(InstallError::Storage(e)) => failure(&e.into()),
            Err(e) => (
                Response::error(
                    ErrorCode::BadRequest,
                    format!("license refused, the old one is kept: {e}"),
                ),
                Outcome::Denied(ErrorCode::BadRequest.as_str()),
            ),
        }
    }

    /// Deletes one batch of audit rows past their retention, which is that
    /// of usage rows (`--usage-retention`): the trail is kept as long as the
    /// usage history it explains.
    pub(super) fn prune_audit(&self) {
        match self
            .manager
            .prune_audit(self.usage_retention, AUDIT_PRUNE_BATCH)
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "audit rows past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit rows not pruned"),
        }
    }
}
