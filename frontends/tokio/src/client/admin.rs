use super::error::ClientError;
use reqwest::{Method, StatusCode};
use std::path::Path;
use std::time::Duration;
use tenure_agent::http::{is_plain_off_loopback, normalise_base};
use tenure_agent::runtime::reqwest_client;
use tenure_core::wire::{AuditRow, GrantView, ReleaseRequest, StatusView, UsageRow};
use tenure_core::{ErrorBody, GrantId, UnixMillis, rfc3339};

/// Paths of the admin endpoints, relative to the manager's base URL.
pub mod paths {
    pub const STATUS: &str = "/v1/status";
    pub const GRANTS: &str = "/v1/grants";
    pub const USAGE: &str = "/v1/usage";
    pub const AUDIT: &str = "/v1/audit";
    pub const REPORT: &str = "/v1/reports/usage";
    pub const RELEASE: &str = "/v1/admin/release";
    pub const LICENSE: &str = "/v1/license";
}

/// Admin calls against one manager (or a load balancer in front of several).
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    pub fn new(
        url: &str,
        token: String,
        ca_cert: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let base = normalise_base(url)?;
        if is_plain_off_loopback(&base) {
            // The admin token goes in every request's head.
            tracing::warn!(
                manager = %base,
                "plain http:// to a manager off this host: the admin token and the answers travel unencrypted; anyone on the path can copy the token; use https://"
            );
        }
        Ok(Self {
            http: reqwest_client(ca_cert, Some(timeout))?,
            base,
            token,
        })
    }

    /// Reads a token file as `tenured` does (`NAME ROLE SECRET` lines, or
    /// one bare SECRET) and takes its first token's secret.
    pub fn read_token(path: &Path) -> Result<String, ClientError> {
        let fail = |reason: String| ClientError::Token {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        tenure_service::auth::first_secret(&text)
            .map(str::to_owned)
            .ok_or_else(|| fail("no `NAME ROLE SECRET` or bare SECRET line".into()))
    }

    pub async fn status(&self) -> Result<StatusView, ClientError> {
        decode(&self.get_raw(paths::STATUS).await?)
    }

    /// Every held grant, read a page at a time by following the server's
    /// `Link` headers, sorted by instance.
    pub async fn grants(&self) -> Result<Vec<GrantView>, ClientError> {
        self.grants_in_pages(GRANTS_PAGE).await
    }

    /// [`AdminClient::grants`] with pages of `page` grants (1 to 10,000).
    pub async fn grants_in_pages(&self, page: usize) -> Result<Vec<GrantView>, ClientError> {
        let first = format!("{}?limit={page}", paths::GRANTS);
        let (mut out, _) = self
            .follow::<GrantView>(paths::GRANTS, first, false)
            .await?;
        out.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(out)
    }

    pub async fn usage(&self, since: Option<UnixMillis>) -> Result<Vec<UsageRow>, ClientError> {
        decode(&self.get_raw(&usage_path(since)?).await?)
    }

    /// Audit rows at or after `since`, oldest first: with `limit`, the
    /// first `limit` of them and whether the server has more; without,
    /// every one, read a page at a time by following `Link` headers.
    pub async fn audit(
        &self,
        since: Option<UnixMillis>,
        limit: Option<usize>,
    ) -> Result<(Vec<AuditRow>, bool), ClientError> {
        let since = match since {
            None => String::new(),
            Some(t) => {
                let text = rfc3339::format(t).map_err(|e| ClientError::Decode(e.to_string()))?;
                format!("since={}&", text.replace('+', "%2B"))
            }
        };
        let page = limit.unwrap_or(GRANTS_PAGE);
        let first = format!("{}?{since}limit={page}", paths::AUDIT);
        self.follow(paths::AUDIT, first, limit.is_some()).await
    }

    /// The rows of `listing` from `path` on, following its `Link` headers:
    /// all of them, or with `first_only` the first page and whether the
    /// server has more.
    async fn follow<T: serde::de::DeserializeOwned>(
        &self,
        listing: &str,
        mut path: String,
        first_only: bool,
    ) -> Result<(Vec<T>, bool), ClientError> {
        let mut out = Vec::new();
        loop {
            let response = self.call(Method::GET, &path, Body::None).await?;
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| next_page(l, listing));
            let text = response.text().await.map_err(ClientError::Transport)?;
            out.extend(decode::<Vec<T>>(&text)?);
            match next {
                Some(_) if first_only => return Ok((out, true)),
                // The cursor only moves forward; a link back to this page
                // would loop forever.
                Some(next) if next != path => path = next,
                _ => return Ok((out, false)),
            }
        }
    }

    /// The body of a GET as the server sent it, for `--json`.
    pub async fn get_raw(&self, path: &str) -> Result<String, ClientError> {
        let response = self.call(Method::GET, path, Body::None).await?;
        response.text().await.map_err(ClientError::Transport)
    }

    /// Frees the grant of a crashed instance (`POST /v1/admin/release`).
    pub async fn release(&self, instance: &ReleaseRequest) -> Result<(), ClientError> {
        let body = serde_json::to_vec(instance).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, paths::RELEASE, Body::Json(body))
            .await
            .map(drop)
    }

    pub async fn revoke(&self, grant_id: GrantId) -> Result<(), ClientError> {
        let path = format!("/v1/admin/grants/{grant_id}");
        self.call(Method::DELETE, &path, Body::None).await.map(drop)
    }

    /// Installs an armoured license; returns the server's answer body.
    pub async fn install_license(&self, armoured: String) -> Result<String, ClientError> {
        let response = self
            .call(Method::PUT, paths::LICENSE, Body::Text(armoured))
            .await?;
        response.text().await.map_err(ClientError::Transport)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        request = match body {
            Body::None => request,
            Body::Json(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Body::Text(text) => request
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(text),
        };
        let response = request.send().await.map_err(ClientError::Transport)?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_from(response).await)
    }
}

enum Body {
    None,
    Json(Vec<u8>),
    Text(String),
}

async fn error_from(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            body,
        },
        Err(_) => ClientError::Status {
            status: status.as_u16(),
            text: summarise(status, &text),
        },
    }
}

fn summarise(status: StatusCode, text: &str) -> String {
    let first: String = text.trim().chars().take(200).collect();
    if first.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        first
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ClientError> {
    serde_json::from_str(text).map_err(|e| ClientError::Decode(e.to_string()))
}

fn usage_path(since: Option<UnixMillis>) -> Result<String, ClientError> {
    match since {
        None => Ok(paths::USAGE.to_owned()),
        Some(t) => {
            let text = rfc3339::format(t).map_err(|e| ClientError::Decode(e.to_string()))?;
            // RFC 3339 needs only `+` escaped in a query; format() writes `Z`,
            // but escape anyway so a future offset form stays correct.
            Ok(format!(
                "{}?since={}",
                paths::USAGE,
                text.replace('+', "%2B")
            ))
        }
    }
}

/// Grants per page when listing: the server's largest page.
const GRANTS_PAGE: usize = tenure_service::query::MAX_PAGE;

/// The path of the `rel="next"` target in a `Link` header, if it is a page
/// of `listing` (`/v1/grants`, `/v1/audit`); anything else is not followed.
fn next_page(link: &str, listing: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let page_of_grants = target
            .strip_prefix(listing)
            .is_some_and(|rest| rest.starts_with('?'));
        (is_next && page_of_grants).then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::{next_page, paths};

    fn next_grants_page(link: &str) -> Option<String> {
        next_page(link, paths::GRANTS)
    }

    #[test]
    fn follows_only_a_next_page_of_the_grants_listing() {
        let next = "/v1/grants?limit=2&after=0123456789abcdef0123456789abcdef";
        assert_eq!(
            next_grants_page(&format!("<{next}>; rel=\"next\"")).as_deref(),
            Some(next)
        );
        assert_eq!(
            next_grants_page(&format!("</x>; rel=\"prev\", <{next}>;rel=next")).as_deref(),
            Some(next)
        );
        for other in [
            "</v1/status?x=1>; rel=\"next\"",
            "<https://elsewhere/v1/grants?limit=1>; rel=\"next\"",
            "</v1/grants?limit=1>; rel=\"prev\"",
            "</v1/grantsx?limit=1>; rel=\"next\"",
            "/v1/grants?limit=1; rel=\"next\"",
            "",
        ] {
            assert_eq!(next_grants_page(other), None, "{other}");
        }
        let audit = "/v1/audit?since=2026-01-01T00:00:00Z&limit=1&after=1767225600000.3";
        let link = format!("<{audit}>; rel=\"next\"");
        assert_eq!(next_page(&link, paths::AUDIT).as_deref(), Some(audit));
        assert_eq!(next_grants_page(&link), None);
    }
}
