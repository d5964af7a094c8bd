//! The bytes between a manager and an agent: every answer a manager gives
//! is written as the service writes it (status, media type, JSON body,
//! `Retry-After`) and read back by the agent's own decoder
//! (`Response::decode`, A4), as an HTTP driver reads it. The agent under
//! test then hears only what a real one could.

use tenure_core::agent::{Response, TransportError};

/// `answer` as it reaches the agent through HTTP.
pub(super) fn through_http(
    answer: Result<Response, TransportError>,
) -> Result<Response, TransportError> {
    match answer? {
        // 200 and 201 (renew and grant) decode alike.
        Response::Granted(g) => match serde_json::to_vec(&g) {
            Ok(body) => Response::decode(200, Some(b"application/json"), None, &body),
            Err(_) => Err(TransportError::Malformed),
        },
        Response::Released => Response::decode(204, None, None, b""),
        Response::Error {
            status,
            body: Some(body),
            retry_after,
        } => match serde_json::to_vec(&body) {
            Ok(json) => Response::decode(
                status,
                Some(b"application/json; charset=utf-8"),
                retry_after,
                &json,
            ),
            Err(_) => Err(TransportError::Malformed),
        },
        // The balancer's own page: no Tenure body to write.
        e @ Response::Error { body: None, .. } => Ok(e),
    }
}
