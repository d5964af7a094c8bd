//! Phase 2: the driver of every agent at once, and its tallies.

use crate::Clock;
use crate::wire::{Answer, Job, Outcome};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;
use tenure_core::agent::{Agent, Event, Request, Transmit};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Counts in one second of the storm.
#[derive(Debug, Default, Clone, Copy)]
pub struct Second {
    pub first_queued: u32,
    pub retries_queued: u32,
    pub on_wire: u32,
    pub ok: u32,
    pub overloaded: u32,
    pub other: u32,
}

impl Second {
    pub fn add(mut self, b: &Second) -> Second {
        self.first_queued += b.first_queued;
        self.retries_queued += b.retries_queued;
        self.on_wire += b.on_wire;
        self.ok += b.ok;
        self.overloaded += b.overloaded;
        self.other += b.other;
        self
    }
}

/// Phase 2: the driver of every agent at once.
pub struct Storm {
    pub t0: Instant,
    pub clock: Clock,
    pub base: Arc<str>,
    pub jobs: mpsc::UnboundedSender<Job>,
    pub request_timeout: Duration,
    pub agents: Vec<Agent>,
    /// Renewal requests each agent queued.
    pub attempts: Vec<u32>,
    pub renewed_at: Vec<Option<Duration>>,
    /// The wake-up instant in `heap` that is current for each agent.
    pub scheduled: Vec<Duration>,
    pub heap: BinaryHeap<Reverse<(Duration, u32)>>,
    pub seconds: Vec<Second>,
    /// Retries queued per 100 ms since t = 0.
    pub retry_deciseconds: Vec<u32>,
    /// When retry number k (index k - 1) was queued, over all agents.
    pub retry_times: Vec<Vec<f64>>,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub retry_after: BTreeMap<String, u64>,
    pub events: BTreeMap<&'static str, u64>,
    pub wire_ms: Vec<f64>,
    pub wire_ms_503: Vec<f64>,
    pub queue_s: Vec<f64>,
    pub in_flight: usize,
    pub max_in_flight: usize,
    pub left: usize,
    pub wakeups: u64,
}

impl Storm {
    pub fn second(&mut self, t: Duration) -> &mut Second {
        let s = usize::try_from(t.as_secs())
            .unwrap_or(usize::MAX)
            .min(100_000);
        if self.seconds.len() <= s {
            self.seconds.resize(s + 1, Second::default());
        }
        &mut self.seconds[s]
    }

    /// Sends what agent `i` queued, tallies its events, and schedules its next
    /// wake-up. A renewed agent next renews in minutes and is left alone.
    pub fn after(&mut self, i: usize) {
        let since = self.t0.elapsed();
        while let Some(t) = self.agents[i].poll_transmit() {
            if matches!(t.request, Request::Renew { .. }) {
                let retry = self.attempts[i] as usize;
                let s = self.second(since);
                if retry == 0 {
                    s.first_queued += 1;
                } else {
                    s.retries_queued += 1;
                    let d = usize::try_from(since.as_millis() / 100)
                        .unwrap_or(usize::MAX)
                        .min(1_000_000);
                    if self.retry_deciseconds.len() <= d {
                        self.retry_deciseconds.resize(d + 1, 0);
                    }
                    self.retry_deciseconds[d] += 1;
                    if self.retry_times.len() < retry {
                        self.retry_times.resize(retry, Vec::new());
                    }
                    self.retry_times[retry - 1].push(since.as_secs_f64());
                }
                self.attempts[i] += 1;
            } else {
                *self.events.entry("other request queued").or_default() += 1;
            }
            self.spawn(i, t, since);
        }
        while let Some(e) = self.agents[i].poll_event() {
            let name = match e {
                Event::Renewed { .. } | Event::Recovered { .. } => {
                    if self.renewed_at[i].is_none() {
                        self.renewed_at[i] = Some(since);
                        self.left -= 1;
                    }
                    "renewed"
                }
                Event::Started { .. } => "started (unexpected)",
                Event::Regranted { .. } => "regranted after 404",
                Event::GraceEntered { .. } => "grace entered",
                Event::GraceOneDayLeft | Event::GraceOneHourLeft => "grace warning",
                Event::ClockStepped { .. } => "clock stepped",
                Event::Rejected { .. } => "rejected",
                Event::MustStop(_) => "must stop",
            };
            *self.events.entry(name).or_default() += 1;
        }
        if self.renewed_at[i].is_some() || !self.agents[i].is_running() {
            self.scheduled[i] = Duration::MAX;
            return;
        }
        if let Some(w) = self.agents[i].poll_timeout()
            && w != self.scheduled[i]
        {
            self.scheduled[i] = w;
            self.heap.push(Reverse((w, i as u32)));
        }
    }

    /// Queues one request for the connection workers. Its deadline is the
    /// agent's own request timeout, counted from when the agent queued it.
    fn spawn(&mut self, i: usize, t: Transmit, queued_at: Duration) {
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
        let _ = self.jobs.send(Job {
            agent: i as u32,
            transmit: t,
            queued_at,
            deadline: Instant::now() + self.request_timeout,
        });
    }

    pub fn answered(&mut self, a: Answer) {
        self.in_flight -= 1;
        let since = self.t0.elapsed();
        let s = self.second(since);
        match &a.outcome {
            Outcome::Status(200, _) => s.ok += 1,
            Outcome::Status(503, Some(c)) if c == "overloaded" => s.overloaded += 1,
            _ => s.other += 1,
        }
        if let Some(w) = a.wire_at {
            self.second(w).on_wire += 1;
            let ms = a.took.as_secs_f64() * 1000.0;
            if let Outcome::Status(503, _) = a.outcome {
                self.wire_ms_503.push(ms);
            } else {
                self.wire_ms.push(ms);
            }
        }
        let waited = a.wire_at.unwrap_or(since).saturating_sub(a.queued_at);
        self.queue_s.push(waited.as_secs_f64());
        if let Outcome::Status(503, _) = a.outcome {
            let ra = a.retry_after.unwrap_or_else(|| "missing".into());
            *self.retry_after.entry(ra).or_default() += 1;
        }
        *self.outcomes.entry(a.outcome).or_default() += 1;
        let i = a.agent as usize;
        self.agents[i].handle_response(self.clock.now(), a.id, a.result);
        self.after(i);
    }

    /// Hands every due agent `handle_timeout`; returns when the next one is due.
    pub fn due(&mut self) -> Option<Instant> {
        let now = self.clock.now();
        while let Some(Reverse((w, i))) = self.heap.peek().copied() {
            if w > now.mono {
                return Some(self.clock.instant_at(w));
            }
            self.heap.pop();
            let i = i as usize;
            if self.scheduled[i] != w {
                continue;
            }
            self.scheduled[i] = Duration::MAX;
            self.wakeups += 1;
            self.agents[i].handle_timeout(now);
            self.after(i);
        }
        None
    }
}
