//! What the agent asks its driver to send, and what the driver hands back.

use crate::wire::{GrantResponse, RawGrantRequest};
use crate::{ErrorBody, GrantId};
use std::time::Duration;

/// Names one transmitted request so its answer can be matched to it. Ids are
/// never reused by one agent; an answer to any id but the one in flight is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// One request to send to manager number `manager` (an index into the
/// configured manager URLs, A6).
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub id: RequestId,
    pub manager: usize,
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `POST /v1/grants`; `client_time_ms` is the wall clock when it was queued (T5).
    /// Boxed: the body is ten times the size of the other variants, and every
    /// renewal's transmit would otherwise be copied at that size.
    Grant(Box<RawGrantRequest>),
    /// `POST /v1/grants/{grant_id}/renew`.
    Renew {
        grant_id: GrantId,
        client_time_ms: i64,
    },
    /// `DELETE /v1/grants/{grant_id}`: best effort, its answer is never needed.
    Release { grant_id: GrantId },
}

/// An HTTP answer, decoded by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// 201 to a grant or 200 to a renewal.
    Granted(GrantResponse),
    /// 204 to a release.
    Released,
    /// Any other status.
    Error {
        status: u16,
        /// `Some` only for a Tenure answer (A4): an `application/json` body
        /// `{"error": CODE}` whose CODE is one of section 6's. A proxy's,
        /// WAF's or captive portal's page is `None`, and `None` never decides
        /// anything: the agent counts it as unreachable.
        body: Option<ErrorBody>,
        /// The answer's `Retry-After` in seconds, as the driver decoded it
        /// (`parse_retry_after`); `None` when absent or not delta-seconds.
        /// Honoured on any answer the agent judges unreachable (A4) when it
        /// ends a failed round: the next round waits this (clamped to the
        /// backoff cap) plus the usual full jitter. Ignored otherwise.
        retry_after: Option<Duration>,
    },
}

impl Response {
    /// The answer an HTTP driver received: 201/200 must hold a grant body
    /// (else `Malformed`), 204 is a release, any other status is an error.
    /// An error's body counts only when `content_type` (the header's value,
    /// `None` when absent) names `application/json`, parameters such as
    /// `charset` allowed, and the body is `{"error": CODE}` with a CODE of
    /// section 6 (`message` optional, other fields ignored): anything else is
    /// not Tenure speaking (A4). `retry_after` is the header as
    /// [`super::parse_retry_after`] read it. One mapping for every driver, so
    /// the core judges the same bytes the same way whichever runtime fetched
    /// them.
    ///
    /// A grant body is not held to its media type: only a manager can sign
    /// nothing and still produce a well-formed grant, and refusing one would
    /// only turn a success into a retry.
    pub fn decode(
        status: u16,
        content_type: Option<&[u8]>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Result<Self, TransportError> {
        match status {
            200 | 201 => serde_json::from_slice(body)
                .map(Self::Granted)
                .map_err(|_| TransportError::Malformed),
            204 => Ok(Self::Released),
            _ => Ok(Self::Error {
                status,
                body: content_type
                    .filter(|t| is_json(t))
                    .and_then(|_| serde_json::from_slice::<TenureError>(body).ok())
                    .map(|e| ErrorBody::new(e.error, e.message)),
                retry_after,
            }),
        }
    }

    /// The server's requested pause, if this answer carried one.
    pub(crate) const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Error { retry_after, .. } => *retry_after,
            Self::Granted(_) | Self::Released => None,
        }
    }
}

/// An error body as the agent reads it: the code decides, the message is
/// for a person and may be missing. An unknown code fails to parse.
#[derive(serde::Deserialize)]
struct TenureError {
    error: crate::ErrorCode,
    #[serde(default)]
    message: String,
}

/// `application/json`, in any case, with or without parameters (RFC 9110
/// section 8.3.1: `type/subtype *( OWS ";" OWS parameter )`).
fn is_json(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
}

/// No usable HTTP answer: all of these mean "unreachable" (A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    Connect,
    Timeout,
    Io,
    /// An answer arrived but could not be decoded.
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const JSON: Option<&[u8]> = Some(b"application/json");

    fn code(r: Result<Response, TransportError>) -> Option<ErrorCode> {
        match r {
            Ok(Response::Error { body, .. }) => body.map(|b| b.error),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_as_the_core_expects() {
        let decode = Response::decode;
        assert_eq!(decode(204, None, None, b""), Ok(Response::Released));
        assert_eq!(
            decode(201, JSON, None, b"not json"),
            Err(TransportError::Malformed)
        );
        assert_eq!(
            decode(
                503,
                Some(b"text/html"),
                Some(Duration::from_secs(2)),
                b"<html>"
            ),
            Ok(Response::Error {
                status: 503,
                body: None,
                retry_after: Some(Duration::from_secs(2)),
            })
        );
        let denied = decode(403, JSON, None, br#"{"error":"revoked","message":"gone"}"#);
        assert!(matches!(
            denied,
            Ok(Response::Error { status: 403, body: Some(ref b), .. })
                if b.error == ErrorCode::Revoked && b.message == "gone"
        ));
    }

    #[test]
    fn a4_the_body_counts_only_as_json_with_a_known_code() {
        let revoked: &[u8] = br#"{"error":"revoked","message":"gone"}"#;
        for ct in [
            &b"application/json"[..],
            b"application/json; charset=utf-8",
            b"Application/JSON;charset=UTF-8",
            b"  application/json ; foo=bar",
        ] {
            assert_eq!(
                code(Response::decode(403, Some(ct), None, revoked)),
                Some(ErrorCode::Revoked),
                "{ct:?}"
            );
        }
        for ct in [
            None,
            Some(&b"text/html"[..]),
            Some(b"text/plain"),
            Some(b"application/problem+json"),
            Some(b"application/jsonx"),
            Some(b"json"),
            Some(b""),
            Some(b"\xff\xfe"),
        ] {
            assert_eq!(
                code(Response::decode(403, ct, None, revoked)),
                None,
                "{ct:?}"
            );
        }
        // The message is optional; the code must be one of section 6's.
        assert_eq!(
            code(Response::decode(
                403,
                JSON,
                None,
                br#"{"error":"replaced"}"#
            )),
            Some(ErrorCode::Replaced)
        );
        for body in [
            &br#"{"error":"banned","message":"x"}"#[..],
            br#"{"error":403}"#,
            br#"{"message":"revoked"}"#,
            b"<html><body>403 Forbidden</body></html>",
            b"",
            br#""revoked""#,
        ] {
            assert_eq!(code(Response::decode(403, JSON, None, body)), None);
        }
    }

    proptest::proptest! {
        /// A grant body is one type on both sides of the wire, so a
        /// manager's bytes read back as the very grant it wrote, whatever
        /// its values: the simulator relies on this to send only the first
        /// grant body of a run through bytes.
        #[test]
        fn every_grant_body_reads_back_whole(
            id: [u8; 16],
            lease_ttl_s: u64,
            renew_every_s: u64,
            grace_period_s: u64,
            server_time_ms: i64,
            license_id: String,
            license_expires_in_s: u64,
            created: bool,
        ) {
            let grant = crate::wire::GrantResponse {
                grant_id: crate::GrantId::from_random(id),
                lease_ttl_s,
                renew_every_s,
                grace_period_s,
                server_time_ms,
                license_id,
                license_expires_in_s,
            };
            let body = serde_json::to_vec(&grant).expect("a grant body serialises");
            let status = if created { 201 } else { 200 };
            proptest::prop_assert_eq!(
                Response::decode(status, JSON, None, &body),
                Ok(Response::Granted(grant))
            );
        }
    }
}
