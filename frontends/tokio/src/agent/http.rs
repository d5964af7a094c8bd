//! One agent request over HTTP, and its answer as the core wants it.

use std::time::Duration;
use tenure_core::ErrorBody;
use tenure_core::agent::{Request, Response, TransportError};

/// Grant answers are a few hundred bytes; anything this big is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(crate) async fn send(
    http: &reqwest::Client,
    base: &str,
    request: &Request,
    timeout: Duration,
) -> Result<Response, TransportError> {
    let builder = match request {
        Request::Grant(body) => http.post(format!("{base}/v1/grants")).json(body),
        Request::Renew {
            grant_id,
            client_time_ms,
        } => http
            .post(format!("{base}/v1/grants/{grant_id}/renew"))
            .json(&serde_json::json!({ "client_time_ms": client_time_ms })),
        Request::Release { grant_id } => http.delete(format!("{base}/v1/grants/{grant_id}")),
    };
    let mut response = builder.timeout(timeout).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TransportError::Malformed);
        }
        body.extend_from_slice(&chunk);
    }
    decode(status, &body)
}

pub(crate) fn decode(status: u16, body: &[u8]) -> Result<Response, TransportError> {
    match status {
        200 | 201 => serde_json::from_slice(body)
            .map(Response::Granted)
            .map_err(|_| TransportError::Malformed),
        204 => Ok(Response::Released),
        _ => Ok(Response::Error {
            status,
            body: serde_json::from_slice::<ErrorBody>(body).ok(),
            retry_after: None,
        }),
    }
}

fn transport(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect
    } else {
        TransportError::Io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_the_core_expects() {
        assert_eq!(decode(204, b""), Ok(Response::Released));
        assert_eq!(decode(201, b"not json"), Err(TransportError::Malformed));
        assert_eq!(
            decode(503, b"<html>"),
            Ok(Response::Error {
                status: 503,
                body: None,
                retry_after: None,
            })
        );
        let denied = decode(403, br#"{"error":"revoked","message":"gone"}"#);
        assert!(matches!(
            denied,
            Ok(Response::Error { status: 403, body: Some(ref b), .. }) if b.error == tenure_core::ErrorCode::Revoked
        ));
    }
}
