//! The loop around the core: push input, drain transmits and events, sleep
//! until the core's timeout or an answer.

use super::handle::StopSummary;
use super::http::Client;
use smol::Timer;
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tenure_core::agent::{
    Agent as Core, AgentConfig, Event, Request, RequestId, Response, TransportError,
};
use tenure_core::{Now, UnixMillis};
use tenure_service::suspend::SuspendMeter;

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
    start: Instant,
    /// Added to the monotonic reading: a suspend counts (T2).
    suspend: SuspendMeter,
    client: Client,
    managers: Vec<String>,
    timeout: Duration,
    answers_tx: Sender<Answer>,
    answers: Receiver<Answer>,
    in_flight: usize,
    events: Sender<Event>,
    summary: StopSummary,
}

fn wall_now() -> UnixMillis {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => UnixMillis(ms(d)),
        // A clock set before 1970 is still a reading; T2 copes with it.
        Err(e) => UnixMillis(ms(e.duration()).saturating_neg()),
    }
}

impl Driver {
    pub(crate) fn new(
        config: AgentConfig,
        seed: u64,
        client: Client,
        managers: Vec<String>,
        events: Sender<Event>,
    ) -> Self {
        let start = Instant::now();
        let suspend = SuspendMeter::new();
        let timeout = config.request_timeout;
        let core = Core::new(config, Now::new(Duration::ZERO, wall_now()), seed);
        let (answers_tx, answers) = channel::unbounded();
        Self {
            core,
            start,
            suspend,
            client,
            managers,
            timeout,
            answers_tx,
            answers,
            in_flight: 0,
            events,
            summary: StopSummary::default(),
        }
    }

    /// The core's `Now`: monotonic from the start plus the time the host
    /// spent suspended, wall from the system clock.
    fn now(&self) -> Now {
        Now::new(self.suspend.mono(self.start.elapsed()), wall_now())
    }

    async fn sleep_until_core_wakes(&self) -> Wake {
        match self.core.poll_timeout() {
            // Far enough to mean "not soon"; the core wakes itself within max_sleep anyway.
            // Timers count awake time only.
            Some(d) => match self.start.checked_add(self.suspend.awake_at(d)) {
                Some(at) => Timer::at(at).await,
                None => Timer::after(Duration::from_secs(86_400)).await,
            },
            None => Timer::never().await,
        };
        Wake::Timer
    }

    pub(crate) async fn run(mut self, commands: Receiver<Command>) {
        loop {
            self.flush();
            let answers = self.answers.clone();
            let wake = self
                .sleep_until_core_wakes()
                .or(async {
                    match answers.recv().await {
                        Ok(a) => Wake::Answer(a),
                        // We hold a sender, so this never closes.
                        Err(_) => std::future::pending().await,
                    }
                })
                .or(async { Wake::Command(commands.recv().await.ok()) })
                .await;
            match wake {
                Wake::Timer => {
                    let now = self.now();
                    self.core.handle_timeout(now);
                }
                Wake::Answer(answer) => self.answered(answer),
                Wake::Command(command) => {
                    let reply = command.map(|Command::Stop(reply)| reply);
                    let summary = self.shutdown().await;
                    if let Some(reply) = reply {
                        let _ = reply.send(summary).await;
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
        let now = self.now();
        self.core.stop(now);
        let deadline = Instant::now() + self.timeout;
        loop {
            self.flush();
            if self.in_flight == 0 {
                break;
            }
            let answers = self.answers.clone();
            let next = async { answers.recv().await.ok() }
                .or(async {
                    Timer::at(deadline).await;
                    None
                })
                .await;
            match next {
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
        let now = self.now();
        self.core.handle_response(now, answer.id, answer.result);
    }

    fn flush(&mut self) {
        while let Some(transmit) = self.core.poll_transmit() {
            let Some(base) = self.managers.get(transmit.manager).cloned() else {
                // The core only names indices below `managers`; answer so it moves on.
                self.in_flight += 1;
                let _ = self.answers_tx.try_send(Answer {
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
            let client = self.client.clone();
            let tx = self.answers_tx.clone();
            smol::spawn(async move {
                let result = client.send(&base, &transmit.request).await;
                let _ = tx
                    .send(Answer {
                        id: transmit.id,
                        release,
                        result,
                    })
                    .await;
            })
            .detach();
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
}
