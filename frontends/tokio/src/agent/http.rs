//! One agent request over HTTP, and its answer as the core wants it.

use std::time::Duration;
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
    // Only a JSON body is Tenure's (A4): the core reads the media type.
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .cloned();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TransportError::Malformed);
        }
        body.extend_from_slice(&chunk);
    }
    Response::decode(
        status,
        content_type.as_ref().map(|v| v.as_bytes()),
        retry_after,
        &body,
    )
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
