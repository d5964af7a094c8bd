//! Requests on the wire: a fixed number of connections taking queued
//! requests in order, each through the agent's own HTTP mapping and client.

use std::sync::Arc;
use std::time::Duration;
use tenure_agent::HttpClient;
use tenure_agent::http::{from_http, to_http};
use tenure_core::agent::{Request, RequestId, Response, Transmit, TransportError};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

/// What one HTTP exchange came to, for the tallies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16, Option<String>),
    /// Core timeout ran out before a connection was free (this program's queue).
    QueueTimeout,
    /// Core timeout ran out on the wire.
    WireTimeout,
    Transport(String),
}

impl Outcome {
    pub fn accepted(&self) -> bool {
        match self {
            Outcome::Status(200 | 201, _) => true,
            Outcome::Status(503, Some(code)) => code == "overloaded",
            _ => false,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Outcome::Status(s, Some(c)) => format!("{s} {c}"),
            Outcome::Status(s, None) => format!("{s}"),
            Outcome::QueueTimeout => "timeout waiting for a client connection".into(),
            Outcome::WireTimeout => "timeout on the wire".into(),
            Outcome::Transport(e) => format!("transport error: {e}"),
        }
    }
}

/// One request through the agent's HTTP mapping (`tenure_agent::http`) and
/// client, keeping the status, error code and Retry-After for the tallies.
pub async fn send(
    http: &dyn HttpClient,
    base: &str,
    request: &Request,
) -> (Result<Response, TransportError>, Outcome, Option<String>) {
    let answer = match to_http(base, request) {
        Ok(request) => http.send(request).await,
        Err(e) => Err(e),
    };
    let answer = match answer {
        Ok(a) => a,
        Err(kind) => return (Err(kind), Outcome::Transport(format!("{kind:?}")), None),
    };
    let retry_after = answer
        .header("retry-after")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let result = from_http(&answer);
    let code = match &result {
        Ok(Response::Error { body: Some(b), .. }) => Some(b.error.to_string()),
        _ => None,
    };
    let outcome = match result {
        Err(TransportError::Malformed) => Outcome::Transport("malformed answer".into()),
        _ => Outcome::Status(answer.status, code),
    };
    (result, outcome, retry_after)
}

/// A request waiting for a connection.
pub struct Job {
    pub agent: u32,
    pub transmit: Transmit,
    pub queued_at: Duration,
    pub deadline: Instant,
}

/// `connections` workers, each one request at a time (so at most that many
/// keep-alive connections in the agent's HTTP client), taking the queued
/// requests in order. A request whose agent's timeout has already passed is
/// not sent: the agent timed it out itself (its own `poll_timeout`) and has
/// moved on, as a real agent's would have.
pub fn connection_workers(
    connections: usize,
    http: &Arc<dyn HttpClient>,
    base: &Arc<str>,
    jobs: mpsc::UnboundedReceiver<Job>,
    answers: &mpsc::UnboundedSender<Answer>,
    t0: Instant,
) -> tokio::task::JoinSet<()> {
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (http, base, jobs, tx) = (http.clone(), base.clone(), jobs.clone(), answers.clone());
        set.spawn(async move {
            loop {
                let Some(job) = jobs.lock().await.recv().await else {
                    return;
                };
                let mut answer = Answer {
                    agent: job.agent,
                    id: job.transmit.id,
                    result: Err(TransportError::Timeout),
                    outcome: Outcome::QueueTimeout,
                    retry_after: None,
                    queued_at: job.queued_at,
                    wire_at: None,
                    took: Duration::ZERO,
                };
                let on_wire = Instant::now();
                if on_wire < job.deadline {
                    answer.wire_at = Some(on_wire.duration_since(t0));
                    match timeout_at(job.deadline, send(&*http, &base, &job.transmit.request)).await
                    {
                        Ok((result, outcome, retry_after)) => {
                            answer.result = result;
                            answer.outcome = outcome;
                            answer.retry_after = retry_after;
                        }
                        Err(_) => answer.outcome = Outcome::WireTimeout,
                    }
                    answer.took = on_wire.elapsed();
                }
                let _ = tx.send(answer);
            }
        });
    }
    set
}

pub struct Answer {
    pub agent: u32,
    pub id: RequestId,
    pub result: Result<Response, TransportError>,
    pub outcome: Outcome,
    pub retry_after: Option<String>,
    /// When the agent queued it, since t = 0.
    pub queued_at: Duration,
    /// When a connection took it, since t = 0.
    pub wire_at: Option<Duration>,
    /// Time on the wire.
    pub took: Duration,
}
