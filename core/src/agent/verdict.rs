//! What an answer means for the agent (A1, A4). Only the status and error code
//! matter here; the answer's timing is judged by the machine.
//!
//! Only a Tenure answer decides (A4): a status with a body `Response::decode`
//! accepted as Tenure's. Every other answer (a proxy's 403 page, a WAF's 401,
//! a captive portal, a 502) is the network's weather: retry, keep counting
//! grace. Of the Tenure answers:
//!
//! | answer | to | verdict |
//! |---|---|---|
//! | 403 `revoked`, `replaced`, `license_expired`, `environment_not_licensed`, `product_not_licensed` | any request | stop now |
//! | 403 `servers_exceeded`, `cores_exceeded` | a grant or re-grant | stop now |
//! | 404 `unknown_grant` | a renewal | re-grant at once, running on |
//! | 400 `bad_request` | a first grant | stop now: the request can never succeed |
//! | any other 4xx (`unauthorized`, `forbidden`, a 400 to a re-grant...) | any | retry, reported to the host |
//! | 5xx (`storage_unavailable`, `too_many_managers`...) | any | retry |
//!
//! A first grant refused with 400 stops because nothing on this side will
//! change the request: the host must fix its flags. The other 4xx codes are
//! a setting to fix (a component token, a role, a route behind a balancer),
//! not a licence decision: a starting agent retries them with backoff, and a
//! running one keeps running on its grace (I9), so a manager misconfigured
//! for a moment never stops a fleet.

use super::io::{Response, TransportError};
use super::state::StopReason;
use crate::ErrorCode;
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
    /// A Tenure 4xx that decides nothing: retry like `Unreachable`, and tell
    /// the host, since only a person can fix it.
    Rejected {
        status: u16,
        code: ErrorCode,
    },
    /// The manager no longer knows the grant: ask for a new one at once.
    Regrant,
    /// Stop now.
    Refused(StopReason),
}

/// `starting` is true before the first success.
pub(crate) fn judge(
    asked: Asked,
    starting: bool,
    result: Result<Response, TransportError>,
) -> Verdict {
    let (status, code) = match result {
        Ok(Response::Granted(grant)) => return Verdict::Success(grant),
        Ok(Response::Error {
            status,
            body: Some(body),
            ..
        }) => (status, body.error),
        // 204 to a grant or renewal is nonsense from some middlebox, and an
        // answer without a Tenure body is not Tenure's: neither decides.
        Ok(Response::Released | Response::Error { body: None, .. }) | Err(_) => {
            return Verdict::Unreachable;
        }
    };
    match (status, code, asked) {
        (
            403,
            ErrorCode::Revoked
            | ErrorCode::Replaced
            | ErrorCode::LicenseExpired
            | ErrorCode::EnvironmentNotLicensed
            | ErrorCode::ProductNotLicensed,
            _,
        )
        | (403, ErrorCode::ServersExceeded | ErrorCode::CoresExceeded, Asked::Grant) => {
            Verdict::Refused(StopReason::refusal(code))
        }
        (404, ErrorCode::UnknownGrant, Asked::Renew) => Verdict::Regrant,
        (400, ErrorCode::BadRequest, Asked::Grant) if starting => {
            Verdict::Refused(StopReason::refusal(code))
        }
        (400..=499, _, _) => Verdict::Rejected { status, code },
        _ => Verdict::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorBody;

    fn tenure(status: u16, code: ErrorCode) -> Result<Response, TransportError> {
        Ok(Response::Error {
            status,
            body: Some(ErrorBody::new(code, "x")),
            retry_after: None,
        })
    }

    fn foreign(status: u16) -> Result<Response, TransportError> {
        Ok(Response::Error {
            status,
            body: None,
            retry_after: None,
        })
    }

    const EVERY_CASE: [(Asked, bool); 4] = [
        (Asked::Grant, true),
        (Asked::Grant, false),
        (Asked::Renew, false),
        (Asked::Renew, true),
    ];

    #[test]
    fn a4_denials_stop_whatever_was_asked() {
        for (asked, starting) in EVERY_CASE {
            for (code, reason) in crate::agent::tests::DENIALS {
                assert_eq!(
                    judge(asked, starting, tenure(403, code)),
                    Verdict::Refused(reason)
                );
            }
        }
    }

    #[test]
    fn a4_limit_codes_refuse_grants_only() {
        for code in [ErrorCode::ServersExceeded, ErrorCode::CoresExceeded] {
            for starting in [true, false] {
                assert_eq!(
                    judge(Asked::Grant, starting, tenure(403, code)),
                    Verdict::Refused(StopReason::Denied { code })
                );
            }
            // A renewal is never refused for a limit (M1 applies to grants).
            assert_eq!(
                judge(Asked::Renew, false, tenure(403, code)),
                Verdict::Rejected { status: 403, code }
            );
        }
    }

    #[test]
    fn a4_nothing_without_a_tenure_body_decides() {
        for (asked, starting) in EVERY_CASE {
            for status in [
                100, 200, 302, 400, 401, 403, 404, 405, 407, 408, 413, 415, 429, 451, 500, 502,
                503, 504, 599, 0, 999,
            ] {
                assert_eq!(
                    judge(asked, starting, foreign(status)),
                    Verdict::Unreachable,
                    "{status} {asked:?} {starting}"
                );
            }
            for e in [
                TransportError::Connect,
                TransportError::Timeout,
                TransportError::Io,
                TransportError::Malformed,
            ] {
                assert_eq!(judge(asked, starting, Err(e)), Verdict::Unreachable);
            }
            assert_eq!(
                judge(asked, starting, Ok(Response::Released)),
                Verdict::Unreachable
            );
        }
    }

    #[test]
    fn a4_a_denial_code_under_another_status_is_not_a_denial() {
        // A proxy passing a body through under its own status decides nothing.
        for (asked, starting) in EVERY_CASE {
            assert_eq!(
                judge(asked, starting, tenure(502, ErrorCode::Revoked)),
                Verdict::Unreachable
            );
            assert_eq!(
                judge(asked, starting, tenure(401, ErrorCode::Revoked)),
                Verdict::Rejected {
                    status: 401,
                    code: ErrorCode::Revoked
                }
            );
        }
    }

    #[test]
    fn a4_unknown_grant_regrants_a_renewal_only() {
        assert_eq!(
            judge(Asked::Renew, false, tenure(404, ErrorCode::UnknownGrant)),
            Verdict::Regrant
        );
        assert_eq!(
            judge(Asked::Grant, false, tenure(404, ErrorCode::UnknownGrant)),
            Verdict::Rejected {
                status: 404,
                code: ErrorCode::UnknownGrant
            }
        );
    }

    #[test]
    fn bad_request_stops_a_first_grant_only() {
        assert_eq!(
            judge(Asked::Grant, true, tenure(400, ErrorCode::BadRequest)),
            Verdict::Refused(StopReason::Denied {
                code: ErrorCode::BadRequest
            })
        );
        for (asked, starting) in [(Asked::Grant, false), (Asked::Renew, false)] {
            assert_eq!(
                judge(asked, starting, tenure(400, ErrorCode::BadRequest)),
                Verdict::Rejected {
                    status: 400,
                    code: ErrorCode::BadRequest
                }
            );
        }
    }

    #[test]
    fn configuration_codes_are_retried_and_reported() {
        let cases = [
            (401, ErrorCode::Unauthorized),
            (403, ErrorCode::Forbidden),
            (404, ErrorCode::NotFound),
            (405, ErrorCode::MethodNotAllowed),
            (413, ErrorCode::PayloadTooLarge),
            (415, ErrorCode::UnsupportedMediaType),
        ];
        for (asked, starting) in EVERY_CASE {
            for (status, code) in cases {
                assert_eq!(
                    judge(asked, starting, tenure(status, code)),
                    Verdict::Rejected { status, code }
                );
            }
        }
    }

    #[test]
    fn tenure_5xx_is_unreachable() {
        for (asked, starting) in EVERY_CASE {
            for code in [
                ErrorCode::StorageUnavailable,
                ErrorCode::TooManyManagers,
                ErrorCode::Overloaded,
                ErrorCode::LicenseNotYetValid,
            ] {
                assert_eq!(
                    judge(asked, starting, tenure(503, code)),
                    Verdict::Unreachable
                );
            }
        }
    }
}
