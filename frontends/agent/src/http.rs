//! The agent's requests as HTTP, and HTTP answers as the core wants them
//! (docs/protocol.md section 6). Every HTTP client the agent runs on goes through
//! these two functions, so the core judges the same bytes the same way
//! whichever runtime fetched them; a new header the core needs is read in
//! [`from_http`] and nowhere else.

use crate::error::ClientError;
use crate::token::ComponentToken;
use tenure_core::agent::{Request, Response, TransportError, parse_retry_after};

/// Grant answers are a few hundred bytes; anything this big is not one.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("tenure/", env!("CARGO_PKG_VERSION"));

/// The media type of every request body.
pub const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Delete,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// One request to a manager: a body, when present, is [`JSON`]; a token,
/// when present, goes in `Authorization` (M10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub body: Option<Vec<u8>>,
    pub token: Option<ComponentToken>,
}

/// An answer as read off the wire. Header names are lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first value of header `name` (lower case), as HTTP clients read one.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// `POST {base}/v1/grants` with the grant request, `POST
/// {base}/v1/grants/{id}/renew` with `{"client_time_ms": ...}`, `DELETE
/// {base}/v1/grants/{id}`. `base` is a manager URL as [`normalise_base`]
/// gives it.
pub fn to_http(base: &str, request: &Request) -> Result<HttpRequest, TransportError> {
    let encoded = |r: serde_json::Result<Vec<u8>>| r.map(Some).map_err(|_| TransportError::Io);
    let (method, path, body) = match request {
        Request::Grant(body) => (
            Method::Post,
            "/v1/grants".to_owned(),
            encoded(serde_json::to_vec(body))?,
        ),
        Request::Renew {
            grant_id,
            client_time_ms,
        } => (
            Method::Post,
            format!("/v1/grants/{grant_id}/renew"),
            encoded(serde_json::to_vec(
                &serde_json::json!({ "client_time_ms": client_time_ms }),
            ))?,
        ),
        Request::Release { grant_id } => (Method::Delete, format!("/v1/grants/{grant_id}"), None),
    };
    Ok(HttpRequest {
        method,
        url: format!("{base}{path}"),
        body,
        token: None,
    })
}

/// The core's view of an answer: `Response::decode` of its status, its
/// `Content-Type` (only a JSON body is Tenure's, A4), its `Retry-After`
/// (delta-seconds only, `parse_retry_after`) and its body.
pub fn from_http(answer: &HttpAnswer) -> Result<Response, TransportError> {
    if answer.body.len() > MAX_ANSWER_BYTES {
        return Err(TransportError::Malformed);
    }
    let retry_after = answer.header("retry-after").and_then(parse_retry_after);
    Response::decode(
        answer.status,
        answer.header("content-type"),
        retry_after,
        &answer.body,
    )
}

/// Accepts `http(s)://host[:port][/prefix]` and drops a trailing slash, so a
/// load balancer that serves Tenure under a prefix works too.
pub fn normalise_base(url: &str) -> Result<String, ClientError> {
    let bad = || ClientError::BadUrl(url.to_owned());
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad());
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// A8: plain `http://` to anything but this host sends the grant requests,
/// and takes the manager's answers, in the clear.
pub fn is_plain_off_loopback(base: &str) -> bool {
    let Ok(url) = url::Url::parse(base) else {
        return false;
    };
    if url.scheme() != "http" {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(a)) => !a.is_loopback(),
        Some(url::Host::Ipv6(a)) => !a.is_loopback(),
        Some(url::Host::Domain(d)) => !d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tenure_core::GrantId;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn requests_map_to_method_path_and_json_body() {
        let id = GrantId::from_random([1; 16]);
        let renew = to_http(
            "http://lm:1/t",
            &Request::Renew {
                grant_id: id,
                client_time_ms: 5,
            },
        )
        .expect("renew");
        assert_eq!(renew.method, Method::Post);
        assert_eq!(renew.url, format!("http://lm:1/t/v1/grants/{id}/renew"));
        assert_eq!(renew.body.as_deref(), Some(&br#"{"client_time_ms":5}"#[..]));
        let release = to_http("http://lm:1", &Request::Release { grant_id: id }).expect("release");
        assert_eq!(
            (release.method, release.url, release.body, release.token),
            (
                Method::Delete,
                format!("http://lm:1/v1/grants/{id}"),
                None,
                None
            )
        );
    }

    #[test]
    fn answers_decode_with_the_first_retry_after() {
        let a = answer(
            503,
            &[
                ("retry-after", " 2 "),
                ("retry-after", "9"),
                ("content-type", "application/json"),
            ],
            r#"{"error":"overloaded","message":"busy"}"#,
        );
        assert!(matches!(
            from_http(&a),
            Ok(Response::Error { status: 503, body: Some(_), retry_after: Some(d) }) if d == Duration::from_secs(2)
        ));
        // The same body as some proxy's text: not Tenure's (A4).
        let text = answer(
            503,
            &[("content-type", "text/html")],
            r#"{"error":"overloaded","message":"busy"}"#,
        );
        assert!(matches!(
            from_http(&text),
            Ok(Response::Error {
                status: 503,
                body: None,
                ..
            })
        ));
        assert_eq!(from_http(&answer(204, &[], "")), Ok(Response::Released));
        let big = answer(200, &[], &" ".repeat(MAX_ANSWER_BYTES + 1));
        assert_eq!(from_http(&big), Err(TransportError::Malformed));
    }

    #[test]
    fn bases_are_normalised() {
        assert_eq!(
            normalise_base("http://127.0.0.1:1/").expect("ok"),
            "http://127.0.0.1:1"
        );
        assert!(normalise_base("ftp://x").is_err());
        assert!(normalise_base("http://x/?q").is_err());
    }

    #[test]
    fn plain_http_is_flagged_off_loopback_only() {
        for quiet in [
            "http://127.0.0.1:1",
            "http://127.8.9.10",
            "http://[::1]:5",
            "http://localhost:1",
            "http://LOCALHOST",
            "https://lm.example.com",
            "https://10.0.0.1",
        ] {
            assert!(!is_plain_off_loopback(quiet), "{quiet}");
        }
        for loud in [
            "http://lm.example.com",
            "http://10.0.0.1:10091",
            "http://[2001:db8::1]",
            "http://128.0.0.1",
            "http://localhost.example.com",
        ] {
            assert!(is_plain_off_loopback(loud), "{loud}");
        }
    }
}
