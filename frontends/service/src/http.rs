//! HTTP as plain data, so the routing and handlers run under any runtime and in
//! tests without a socket. Frontends convert to and from their own types.

use serde::Serialize;
use tenure_core::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Self {
        match m {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            _ => Self::Other,
        }
    }
}

/// The parts of a request the service looks at. The frontend has already
/// bounded the head and the body (`tenure_core::wire::MAX_BODY_BYTES`).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The `Cookie` header: the console's session (`/ui/` only).
    pub cookie: Option<String>,
    /// The `Sec-Fetch-Site` header browsers send: the console refuses a
    /// form posted from another origin by it.
    pub fetch_site: Option<String>,
    /// The `Accept` header: `GET /v1/reports/usage` answers CSV to
    /// `text/csv`.
    pub accept: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: None,
            content_type: None,
            authorization: None,
            cookie: None,
            fetch_site: None,
            accept: None,
            body: Vec::new(),
        }
    }
}

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";
pub const HTML: &str = "text/html; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
pub const CSV: &str = "text/csv; charset=utf-8; header=present";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `None` for bodiless responses (204).
    pub content_type: Option<&'static str>,
    /// Seconds; set on every 503 (section 6).
    pub retry_after: Option<u32>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
    /// The `Link` header (RFC 8288) of a paged listing: the next page.
    pub link: Option<String>,
    /// Further headers, written as given: the console's `Set-Cookie`,
    /// `Location` and security headers. Empty on every API answer.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            retry_after: None,
            allow: None,
            link: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            content_type: Some(TEXT),
            body: body.into().into_bytes(),
            ..Self::empty(status)
        }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                content_type: Some(JSON),
                body,
                ..Self::empty(status)
            },
            // Our own types always serialise; if one ever does not, say so
            // rather than send a half-written body.
            Err(e) => Self::error(
                ErrorCode::BadRequest,
                format!("cannot encode response: {e}"),
            ),
        }
    }

    /// A JSON body the caller has already encoded.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            content_type: Some(JSON),
            body,
            ..Self::empty(status)
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        let body = ErrorBody::new(code, message);
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            status: code.http_status(),
            content_type: Some(JSON),
            retry_after: code.retry_after_s(),
            allow: None,
            link: None,
            headers: Vec::new(),
            body: bytes,
        }
    }

    pub fn with_retry_after(mut self, s: u32) -> Self {
        self.retry_after = Some(s);
        self
    }

    pub fn with_link(mut self, link: String) -> Self {
        self.link = Some(link);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// `path` as a log may show it: a grant id in it (the component's credential
/// for its grant) is cut to its first 8 digits.
pub fn path_for_log(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(256));
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if tenure_core::GrantId::parse(segment).is_ok() {
            out.push_str(&segment[..8]);
            out.push_str("...");
        } else {
            out.push_str(segment);
        }
    }
    out
}

/// Whether a `Content-Type` header names JSON (parameters such as charset allowed).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_type_matching() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonx")));
        assert!(!is_json(None));
    }

    #[test]
    fn logged_paths_hold_no_whole_grant_id() {
        let id = "0123456789abcdef0123456789ABCDEF";
        assert_eq!(
            path_for_log(&format!("/v1/grants/{id}/renew")),
            "/v1/grants/01234567.../renew"
        );
        assert_eq!(
            path_for_log(&format!("/v1/admin/grants/{id}")),
            "/v1/admin/grants/01234567..."
        );
        assert_eq!(path_for_log("/v1/grants"), "/v1/grants");
        assert_eq!(path_for_log("/v1/grants/xyz"), "/v1/grants/xyz");
    }

    #[test]
    fn errors_carry_status_body_and_retry_after() {
        let r = Response::error(ErrorCode::Overloaded, "busy");
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after, Some(1));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["error"], "overloaded");
        assert_eq!(v["message"], "busy");
        assert_eq!(Response::error(ErrorCode::Revoked, "x").retry_after, None);
    }
}
