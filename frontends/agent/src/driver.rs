//! The loop around the core: push input, drain transmits and events, sleep
//! until the core's timeout, an answer or a command.

use crate::clock::Clock;
use crate::handle::StopSummary;
use crate::http::{HttpRequest, from_http, to_http};
use crate::runtime::{HttpClient, Runtime};
use crate::token::ComponentToken;
use async_channel::{Receiver, Sender};
use futures_lite::future::or;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tenure_core::agent::{
    Agent as Core, AgentConfig, Event, Request, RequestId, Response, Transmit, TransportError,
};

pub(crate) enum Command {
    Stop(Sender<StopSummary>),
}

struct Answer {
    id: RequestId,
    release: bool,
    result: Result<Response, TransportError>,
}

enum Wake {
    Timer,
    Answer(Answer),
    Command(Option<Command>),
}

pub(crate) struct Driver {
    core: Core,
    clock: Clock,
    runtime: Arc<dyn Runtime>,
    client: Arc<dyn HttpClient>,
    managers: Vec<String>,
    /// Shared with the handle, which may rotate it (M10).
    token: Arc<RwLock<Option<ComponentToken>>>,
    timeout: Duration,
    answers_tx: Sender<Answer>,
    answers: Receiver<Answer>,
    in_flight: usize,
    events: Sender<Event>,
    summary: StopSummary,
}

impl Driver {
    pub(crate) fn new(
        config: AgentConfig,
        seed: u64,
        runtime: Arc<dyn Runtime>,
        client: Arc<dyn HttpClient>,
        managers: Vec<String>,
        token: Arc<RwLock<Option<ComponentToken>>>,
        events: Sender<Event>,
    ) -> Self {
        let clock = Clock::new(runtime.clone());
        let timeout = config.request_timeout;
        let core = Core::new(config, clock.now(), seed);
        let (answers_tx, answers) = async_channel::unbounded();
        Self {
            core,
            clock,
            runtime,
            client,
            managers,
            token,
            timeout,
            answers_tx,
            answers,
            in_flight: 0,
            events,
            summary: StopSummary::default(),
        }
    }

    pub(crate) async fn run(mut self, commands: Receiver<Command>) {
        loop {
            self.flush();
            let wake = self.core.poll_timeout().map(|d| self.clock.instant_at(d));
            let timer = async {
                match wake {
                    Some(at) => self.runtime.sleep_until(at).await,
                    None => std::future::pending().await,
                }
                Wake::Timer
            };
            let answer = async {
                match self.answers.recv().await {
                    Ok(a) => Wake::Answer(a),
                    // We hold a sender, so this never closes.
                    Err(_) => std::future::pending().await,
                }
            };
            let command = async { Wake::Command(commands.recv().await.ok()) };
            match or(timer, or(answer, command)).await {
                Wake::Timer => self.core.handle_timeout(self.clock.now()),
                Wake::Answer(answer) => self.answered(answer),
                Wake::Command(command) => {
                    // A closed channel is a dropped handle: stop all the same.
                    let reply = command.map(|Command::Stop(reply)| reply);
                    let summary = self.shutdown().await;
                    if let Some(reply) = reply {
                        let _ = reply.try_send(summary);
                    }
                    return;
                }
            }
        }
    }

    /// A5: release, then wait (bounded by the request timeout) for every answer
    /// still due, since a grant request in flight may yet create a grant that
    /// the core will then release too.
    async fn shutdown(&mut self) -> StopSummary {
        self.core.stop(self.clock.now());
        let deadline = self.runtime.now() + self.timeout;
        loop {
            self.flush();
            if self.in_flight == 0 {
                break;
            }
            let answer = async { self.answers.recv().await.ok() };
            let expired = async {
                self.runtime.sleep_until(deadline).await;
                None
            };
            match or(answer, expired).await {
                Some(answer) => self.answered(answer),
                None => {
                    tracing::warn!(
                        pending = self.in_flight,
                        "stopped without an answer to every request"
                    );
                    break;
                }
            }
        }
        self.summary
    }

    fn answered(&mut self, answer: Answer) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if answer.release && matches!(answer.result, Ok(Response::Released)) {
            self.summary.releases_confirmed += 1;
        }
        if let Err(e) = &answer.result {
            tracing::debug!(id = answer.id.0, error = ?e, "request failed");
        }
        self.core
            .handle_response(self.clock.now(), answer.id, answer.result);
    }

    fn flush(&mut self) {
        while let Some(transmit) = self.core.poll_transmit() {
            self.send(transmit);
        }
        while let Some(event) = self.core.poll_event() {
            // Reported whether or not the host listens (T2, A4).
            match event {
                Event::ClockStepped { step_ms } => {
                    tracing::warn!(
                        step_ms,
                        "the wall clock stepped against the monotonic clock"
                    );
                }
                Event::Rejected { status, code } => {
                    tracing::warn!(status, %code, "a manager rejected the request; retrying");
                }
                _ => {}
            }
            // Nobody listening is fine: the handle was dropped and we are stopping.
            let _ = self.events.try_send(event);
        }
    }

    /// Sends on a task of its own, bounded by the request timeout; the answer
    /// comes back through `answers`.
    fn send(&mut self, transmit: Transmit) {
        self.in_flight += 1;
        let release = matches!(transmit.request, Request::Release { .. });
        let tx = self.answers_tx.clone();
        let Some(base) = self.managers.get(transmit.manager) else {
            // The core only names indices below `managers`; answer so it moves on.
            let _ = tx.try_send(Answer {
                id: transmit.id,
                release: false,
                result: Err(TransportError::Connect),
            });
            return;
        };
        if release {
            self.summary.releases_sent += 1;
        }
        // Grant ids are credentials: the log shows their first 8 digits.
        match &transmit.request {
            Request::Grant(_) => {
                tracing::debug!(id = transmit.id.0, manager = %base, "sending a grant request")
            }
            Request::Renew { grant_id, .. } => {
                tracing::debug!(id = transmit.id.0, manager = %base, grant = %grant_id.short(), "sending a renewal")
            }
            Request::Release { grant_id } => {
                tracing::debug!(id = transmit.id.0, manager = %base, grant = %grant_id.short(), "sending a release")
            }
        }
        let token = self.token.read().unwrap_or_else(|e| e.into_inner()).clone();
        let request = to_http(base, &transmit.request).map(|r| HttpRequest { token, ..r });
        let deadline = self.runtime.now() + self.timeout;
        let (runtime, client) = (self.runtime.clone(), self.client.clone());
        self.runtime.spawn(Box::pin(async move {
            let result = match request {
                Ok(request) => exchange(&*runtime, &*client, request, deadline).await,
                Err(e) => Err(e),
            };
            let _ = tx
                .send(Answer {
                    id: transmit.id,
                    release,
                    result,
                })
                .await;
        }));
    }
}

/// One request and its answer, or `Timeout` at `deadline`.
async fn exchange(
    runtime: &dyn Runtime,
    client: &dyn HttpClient,
    request: HttpRequest,
    deadline: Instant,
) -> Result<Response, TransportError> {
    let answer = async { client.send(request).await.and_then(|a| from_http(&a)) };
    let expired = async {
        runtime.sleep_until(deadline).await;
        Err(TransportError::Timeout)
    };
    or(answer, expired).await
}
