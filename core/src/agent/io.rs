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
    /// Any other status; `body` when it parsed as an error body.
    Error {
        status: u16,
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
    /// (else `Malformed`), 204 is a release, any other status is an error
    /// with its body when that parses as an error body. `retry_after` is the
    /// header as [`super::parse_retry_after`] read it. One mapping for every
    /// driver, so the core judges the same bytes the same way whichever
    /// runtime fetched them.
    pub fn decode(
        status: u16,
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
                body: serde_json::from_slice::<ErrorBody>(body).ok(),
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

    #[test]
    fn statuses_map_as_the_core_expects() {
        let decode = Response::decode;
        assert_eq!(decode(204, None, b""), Ok(Response::Released));
        assert_eq!(
            decode(201, None, b"not json"),
            Err(TransportError::Malformed)
        );
        assert_eq!(
            decode(503, Some(Duration::from_secs(2)), b"<html>"),
            Ok(Response::Error {
                status: 503,
                body: None,
                retry_after: Some(Duration::from_secs(2)),
            })
        );
        let denied = decode(403, None, br#"{"error":"revoked","message":"gone"}"#);
        assert!(matches!(
            denied,
            Ok(Response::Error { status: 403, body: Some(ref b), .. }) if b.error == crate::ErrorCode::Revoked
        ));
    }
}
