//! The loop around the core: push input, drain transmits and events, sleep
//! until the core's timeout or an answer.

use super::clock::Clock;
use super::handle::StopSummary;
use super::http;
use std::future::pending;
use tenure_core::agent::{
    Agent as Core, AgentConfig, Event, Request, RequestId, Response, TransportError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

pub(crate) enum Command {
    Stop(oneshot::Sender<StopSummary>),
}

struct Answer {
    id: RequestId,
    release: bool,
    result: Result<Response, TransportError>,
}

pub(crate) struct Driver {
    core: Core,
    clock: Clock,
    http: reqwest::Client,
    managers: Vec<String>,
    timeout: std::time::Duration,
    answers_tx: mpsc::UnboundedSender<Answer>,
    answers: mpsc::UnboundedReceiver<Answer>,
    in_flight: usize,
    events: mpsc::UnboundedSender<Event>,
    summary: StopSummary,
}

impl Driver {
    pub(crate) fn new(
        config: AgentConfig,
        seed: u64,
        http: reqwest::Client,
        managers: Vec<String>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let clock = Clock::new();
        let timeout = config.request_timeout;
        let core = Core::new(config, clock.now(), seed);
        let (answers_tx, answers) = mpsc::unbounded_channel();
        Self {
            core,
            clock,
            http,
            managers,
            timeout,
            answers_tx,
            answers,
            in_flight: 0,
            events,
            summary: StopSummary::default(),
        }
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.flush();
            let wake = self.core.poll_timeout().map(|d| self.clock.instant_at(d));
            tokio::select! {
                () = sleep_or_never(wake) => {
                    self.core.handle_timeout(self.clock.now());
                }
                Some(answer) = self.answers.recv() => self.answered(answer),
                command = commands.recv() => {
                    let reply = command.map(|Command::Stop(reply)| reply);
                    let summary = self.shutdown().await;
                    if let Some(reply) = reply {
                        let _ = reply.send(summary);
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
        let deadline = Instant::now() + self.timeout;
        loop {
            self.flush();
            if self.in_flight == 0 {
                break;
            }
            tokio::select! {
                Some(answer) = self.answers.recv() => self.answered(answer),
                () = sleep_until(deadline) => {
                    tracing::warn!(pending = self.in_flight, "stopped without an answer to every request");
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
            let Some(base) = self.managers.get(transmit.manager).cloned() else {
                // The core only names indices below `managers`; answer so it moves on.
                self.in_flight += 1;
                let _ = self.answers_tx.send(Answer {
                    id: transmit.id,
                    release: false,
                    result: Err(TransportError::Connect),
                });
                continue;
            };
            let release = matches!(transmit.request, Request::Release { .. });
            if release {
                self.summary.releases_sent += 1;
            }
            tracing::debug!(id = transmit.id.0, manager = %base, request = ?transmit.request, "sending");
            self.in_flight += 1;
            let http = self.http.clone();
            let tx = self.answers_tx.clone();
            let timeout = self.timeout;
            tokio::spawn(async move {
                let result = http::send(&http, &base, &transmit.request, timeout).await;
                let _ = tx.send(Answer {
                    id: transmit.id,
                    release,
                    result,
                });
            });
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
            let _ = self.events.send(event);
        }
    }
}

async fn sleep_or_never(wake: Option<Instant>) {
    match wake {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}
