//! One agent request over HTTP, and its answer as the core wants it.

use std::time::Duration;
use tenure_core::ErrorBody;
use tenure_core::agent::{Request, Response, TransportError, parse_retry_after};

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
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes()));
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TransportError::Malformed);
        }
        body.extend_from_slice(&chunk);
    }
    decode(status, retry_after, &body)
}

/// `retry_after` is the answer's `Retry-After` as `parse_retry_after` read it;
/// only an error answer carries it to the core.
pub(crate) fn decode(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Response, TransportError> {
    match status {
        200 | 201 => serde_json::from_slice(body)
            .map(Response::Granted)
            .map_err(|_| TransportError::Malformed),
        204 => Ok(Response::Released),
        _ => Ok(Response::Error {
            status,
            body: serde_json::from_slice::<ErrorBody>(body).ok(),
            retry_after,
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn statuses_map_as_the_core_expects() {
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
            Ok(Response::Error { status: 403, body: Some(ref b), .. }) if b.error == tenure_core::ErrorCode::Revoked
        ));
    }

    /// One answer with the given `Retry-After` line, from a socket.
    async fn answer_with(retry_after: &str) -> Result<Response, TransportError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let body = r#"{"error":"overloaded","message":"busy now"}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n{retry_after}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            stream.write_all(answer.as_bytes()).await.expect("write");
            let _ = stream.shutdown().await;
        });
        let release = Request::Release {
            grant_id: tenure_core::GrantId::from_random([1; 16]),
        };
        let http = reqwest::Client::new();
        let out = send(&http, &base, &release, Duration::from_secs(5)).await;
        server.await.expect("server");
        out
    }

    #[tokio::test]
    async fn retry_after_reaches_the_core_in_seconds() {
        let retry_after = |r: Result<Response, TransportError>| match r {
            Ok(Response::Error {
                status: 503,
                body: Some(_),
                retry_after,
            }) => retry_after,
            other => panic!("{other:?}"),
        };
        let s = Duration::from_secs;
        assert_eq!(
            retry_after(answer_with("Retry-After: 1\r\n").await),
            Some(s(1))
        );
        assert_eq!(
            retry_after(answer_with("retry-after:  30 \r\n").await),
            Some(s(30))
        );
        assert_eq!(retry_after(answer_with("").await), None);
        assert_eq!(
            retry_after(answer_with("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n").await),
            None
        );
    }
}
