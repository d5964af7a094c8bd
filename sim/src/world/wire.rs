//! The bytes between a manager and an agent. A manager's refusals, failures
//! and releases are the service's own answers (`tenure_service`'s
//! `Response::error`, its failure mapping, its 204), read back by the
//! agent's own decoder (`Response::decode`, A4) from the status, media
//! type, `Retry-After` and body, as an HTTP driver reads them. The agent
//! under test then hears only what a real one could.
//!
//! A grant body is one type on both sides (`GrantResponse`), so what bytes
//! can do to it depends on its type, not on its values: the first grant
//! body of a run is written as the service writes it and read back, and
//! core's property test `every_grant_body_reads_back_whole` covers every
//! value. Writing each of the hundreds of thousands of renewals of a long
//! run as JSON took a fifth of the simulator's time and could find nothing
//! that test does not.

use super::Duration;
use tenure_core::ErrorCode;
use tenure_core::agent::{Response, TransportError};

/// An answer the service wrote, as the agent reads it.
pub(super) fn read(answer: &tenure_service::Response) -> Result<Response, TransportError> {
    Response::decode(
        answer.status,
        answer.content_type.map(str::as_bytes),
        answer
            .retry_after
            .map(|s| Duration::from_secs(u64::from(s))),
        &answer.body,
    )
}

/// The service's error answer for `code`, as the agent reads it.
pub(super) fn service_error(
    code: ErrorCode,
    message: impl Into<String>,
) -> Result<Response, TransportError> {
    read(&tenure_service::Response::error(code, message))
}

/// Whether a grant body has gone through bytes yet in this run.
#[derive(Debug, Default)]
pub(super) struct Wire {
    grant_read_back: bool,
}

impl Wire {
    /// `answer` as it reaches the agent through HTTP: the first grant body
    /// of the run as bytes; everything else is already what the agent read.
    pub(super) fn through_http(
        &mut self,
        answer: Result<Response, TransportError>,
    ) -> Result<Response, TransportError> {
        match answer {
            Ok(Response::Granted(g)) if !self.grant_read_back => {
                self.grant_read_back = true;
                // 200 and 201 (renew and grant) decode alike.
                read(&tenure_service::Response::json(200, &g))
            }
            other => other,
        }
    }
}
