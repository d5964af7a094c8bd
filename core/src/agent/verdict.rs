//! What an answer means for the agent (A1, A4). Only the status and error code
//! matter here; the answer's timing is judged by the machine.

use super::io::{Response, TransportError};
use super::state::StopReason;
use crate::wire::GrantResponse;

/// The kind of request an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    Grant,
    Renew,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success(GrantResponse),
    /// Retry, and keep counting grace.
    Unreachable,
    /// The manager no longer knows the grant: ask for a new one at once.
    Regrant,
    /// Stop now.
    Refused(StopReason),
}

/// `starting` is true before the first success: then any 4xx is a refusal,
/// because a component that was never granted has nothing to run on.
pub(crate) fn judge(
    asked: Asked,
    starting: bool,
    result: Result<Response, TransportError>,
) -> Verdict {
    let (status, body) = match result {
        Ok(Response::Granted(grant)) => return Verdict::Success(grant),
        // 204 to a grant or renewal is nonsense from some middlebox, not a denial.
        Ok(Response::Released) | Err(_) => return Verdict::Unreachable,
        Ok(Response::Error { status, body, .. }) => (status, body),
    };
    let code = body.map(|b| b.error);
    match (status, asked) {
        (403, _) => Verdict::Refused(StopReason::refusal(status, code)),
        (404, Asked::Renew) => Verdict::Regrant,
        // Request timeout and rate limiting are the network's weather, not a verdict.
        (408 | 429, _) => Verdict::Unreachable,
        (400..=499, Asked::Grant) if starting || status == 400 => {
            Verdict::Refused(StopReason::refusal(status, code))
        }
        // A running component keeps running through a confused proxy (401, 405,
        // 413, 415 on renew) and through every 5xx: only grace bounds it.
        _ => Verdict::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorBody, ErrorCode};

    fn err(status: u16, code: Option<ErrorCode>) -> Result<Response, TransportError> {
        Ok(Response::Error {
            status,
            body: code.map(|c| ErrorBody::new(c, "x")),
            retry_after: None,
        })
    }

    #[test]
    fn refusals_by_code() {
        for asked in [Asked::Grant, Asked::Renew] {
            for starting in [true, false] {
                assert_eq!(
                    judge(asked, starting, err(403, Some(ErrorCode::Revoked))),
                    Verdict::Refused(StopReason::Revoked)
                );
                assert_eq!(
                    judge(asked, starting, err(403, Some(ErrorCode::LicenseExpired))),
                    Verdict::Refused(StopReason::LicenseExpired)
                );
                assert_eq!(
                    judge(asked, starting, err(403, Some(ErrorCode::ServersExceeded))),
                    Verdict::Refused(StopReason::Denied {
                        status: 403,
                        code: Some(ErrorCode::ServersExceeded)
                    })
                );
                assert_eq!(
                    judge(asked, starting, err(403, None)),
                    Verdict::Refused(StopReason::Denied {
                        status: 403,
                        code: None
                    })
                );
            }
        }
    }

    #[test]
    fn first_grant_refused_by_any_4xx_but_408_and_429() {
        for status in [400, 401, 404, 405, 413, 415, 451] {
            assert!(
                matches!(
                    judge(Asked::Grant, true, err(status, None)),
                    Verdict::Refused(_)
                ),
                "{status}"
            );
        }
        for status in [408, 429, 500, 502, 503, 302, 200] {
            assert_eq!(
                judge(Asked::Grant, true, err(status, None)),
                Verdict::Unreachable,
                "{status}"
            );
        }
        for e in [
            TransportError::Connect,
            TransportError::Timeout,
            TransportError::Io,
            TransportError::Malformed,
        ] {
            assert_eq!(judge(Asked::Grant, true, Err(e)), Verdict::Unreachable);
        }
    }

    #[test]
    fn running_keeps_going_through_unexpected_answers() {
        for status in [400, 401, 405, 413, 415, 500, 503] {
            assert_eq!(
                judge(Asked::Renew, false, err(status, None)),
                Verdict::Unreachable,
                "{status}"
            );
        }
        assert_eq!(
            judge(Asked::Renew, false, Ok(Response::Released)),
            Verdict::Unreachable
        );
        assert_eq!(
            judge(Asked::Renew, false, err(404, Some(ErrorCode::UnknownGrant))),
            Verdict::Regrant
        );
        // A re-grant is refused by 400 and 403 only.
        assert!(matches!(
            judge(Asked::Grant, false, err(400, None)),
            Verdict::Refused(_)
        ));
        for status in [401, 404, 405, 413, 415, 503] {
            assert_eq!(
                judge(Asked::Grant, false, err(status, None)),
                Verdict::Unreachable,
                "{status}"
            );
        }
    }
}
