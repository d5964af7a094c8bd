//! The answers the `agent` fuzz target hands in: any status with any body
//! under any Content-Type, as the bytes decode, and how the shared reference
//! model (`tenure_testkit::models::agent`) reads each one.

use arbitrary::Arbitrary;
use std::time::Duration;
use tenure_core::agent::{Response, TransportError};
use tenure_core::wire::GrantResponse;
use tenure_core::{ErrorCode, GrantId};
use tenure_testkit::models::agent::Outcome;

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Answer {
    Granted {
        renew_s: u16,
        ttl_s: u32,
        grace_s: u32,
    },
    GrantedWild {
        renew_s: u64,
        ttl_s: u64,
        grace_s: u64,
    },
    Transport(u8),
    Released,
    /// Any status, with or without an error body (`code` picks one of
    /// section 6's), under a Content-Type picked by `media`, with or without
    /// a `Retry-After` (any value a driver can hand in: `parse_retry_after`
    /// saturates at `u32::MAX` seconds).
    Status {
        status: u16,
        code: Option<u8>,
        media: u8,
        retry_after_s: Option<u32>,
    },
    /// As `Status`, with a status a manager or a proxy commonly sends
    /// (`COMMON[status % len]`), so each code meets each status often.
    Common {
        status: u8,
        code: Option<u8>,
        media: u8,
        retry_after_s: Option<u32>,
    },
}

pub const COMMON: [u16; 13] = [
    400, 401, 403, 404, 405, 407, 408, 413, 415, 429, 500, 502, 503,
];

impl Answer {
    /// `Common` as the `Status` it stands for.
    pub fn normalized(self) -> Self {
        match self {
            Self::Common {
                status,
                code,
                media,
                retry_after_s,
            } => Self::Status {
                status: COMMON[usize::from(status) % COMMON.len()],
                code,
                media,
                retry_after_s,
            },
            other => other,
        }
    }

    /// The code, when the answer is a Tenure body (A4): JSON media type
    /// and a known code. Anything else is something in between.
    pub fn tenure_code(&self) -> Option<ErrorCode> {
        match *self {
            Self::Status {
                code: Some(c),
                media,
                ..
            } if media % 4 < 2 => Some(ErrorCode::ALL[usize::from(c) % ErrorCode::ALL.len()]),
            _ => None,
        }
    }
}

/// The answer as a driver hands it in, decoded from the bytes.
pub fn response(answer: &Answer, grant: u8) -> Result<Response, TransportError> {
    let granted = |renew: u64, ttl: u64, grace: u64| {
        Ok(Response::Granted(GrantResponse {
            grant_id: GrantId::from_random([grant; 16]),
            lease_ttl_s: ttl,
            renew_every_s: renew,
            grace_period_s: grace,
            server_time_ms: 0,
            license_id: "L".into(),
            license_expires_in_s: 1,
        }))
    };
    match *answer {
        Answer::Granted {
            renew_s,
            ttl_s,
            grace_s,
        } => granted(u64::from(renew_s), u64::from(ttl_s), u64::from(grace_s)),
        Answer::GrantedWild {
            renew_s,
            ttl_s,
            grace_s,
        } => granted(renew_s, ttl_s, grace_s),
        Answer::Transport(k) => Err(match k % 4 {
            0 => TransportError::Connect,
            1 => TransportError::Timeout,
            2 => TransportError::Io,
            _ => TransportError::Malformed,
        }),
        Answer::Released => Ok(Response::Released),
        Answer::Common { .. } => unreachable!("answer() normalizes"),
        Answer::Status {
            status,
            code,
            media,
            retry_after_s,
        } => {
            let content_type: Option<&[u8]> = match media % 4 {
                0 => Some(b"application/json"),
                1 => Some(b"Application/JSON; charset=utf-8"),
                2 => Some(b"text/html"),
                _ => None,
            };
            let body = match code {
                Some(c) => format!(
                    r#"{{"error":"{}","message":"fuzz"}}"#,
                    ErrorCode::ALL[usize::from(c) % ErrorCode::ALL.len()]
                ),
                None => "<html><body>403 Forbidden</body></html>".into(),
            };
            // 200/201/204 decode as success or release whatever the body:
            // such a status with an error body is not an error answer.
            Response::decode(
                status,
                content_type,
                retry_after_s.map(|s| Duration::from_secs(u64::from(s))),
                body.as_bytes(),
            )
        }
    }
}

/// What the agent was handed, as the model must read it: a status that
/// decodes as a release or does not decode is no error answer.
pub fn read(answer: &Answer, handed: &Result<Response, TransportError>) -> Outcome {
    match (*answer, handed) {
        (
            Answer::Granted {
                renew_s,
                ttl_s,
                grace_s,
            },
            _,
        ) => Outcome::Granted {
            renew_s: u64::from(renew_s),
            ttl_s: u64::from(ttl_s),
            grace_s: u64::from(grace_s),
        },
        (
            Answer::GrantedWild {
                renew_s,
                ttl_s,
                grace_s,
            },
            _,
        ) => Outcome::Granted {
            renew_s,
            ttl_s,
            grace_s,
        },
        (Answer::Transport(_), _) | (Answer::Status { .. }, Err(_)) => Outcome::Transport,
        (Answer::Released, _) | (Answer::Status { .. }, Ok(Response::Released)) => {
            Outcome::Released
        }
        (Answer::Status { .. }, Ok(Response::Granted(_))) => {
            unreachable!("error bodies never decode as grants")
        }
        (Answer::Status { status, media, .. }, Ok(Response::Error { .. })) => {
            match answer.tenure_code() {
                Some(code) => Outcome::Tenure { status, code },
                None => Outcome::Foreign {
                    status,
                    kind: media,
                },
            }
        }
        (Answer::Common { .. }, _) => unreachable!("answer() normalizes"),
    }
}
