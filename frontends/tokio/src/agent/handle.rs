//! The public face of the driver: start, events, stop.

use super::driver::{Command, Driver};
use crate::client::{ClientError, http_client};
use std::path::PathBuf;
use std::time::Duration;
use tenure_core::agent::{AgentConfig, Event};
use tenure_core::wire::GrantRequest;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How to run an agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Manager base URLs, tried in order (A6): one load balancer, or several managers.
    pub managers: Vec<String>,
    /// Identity and host facts sent with every grant request.
    pub request: GrantRequest,
    /// Bound on each HTTP request, and on `stop()`'s release.
    pub request_timeout: Duration,
    /// A PEM CA certificate to trust besides the web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// The jitter seed; `None` draws one from the OS so a fleet spreads out.
    pub seed: Option<u64>,
}

impl AgentOptions {
    pub fn new(managers: Vec<String>, request: GrantRequest) -> Self {
        Self {
            managers,
            request,
            request_timeout: Duration::from_secs(10),
            ca_cert: None,
            seed: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no manager URL given")]
    NoManagers,
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot read random bytes from the operating system: {0}")]
    Entropy(String),
}

/// What `stop()` managed to do. Release is best effort (A5): a manager that is
/// down keeps the grant until `grace_period + reclaim_margin` (M2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopSummary {
    /// Release requests sent, including ones for grants that a late answer created.
    pub releases_sent: u32,
    /// Of those, how many the manager answered with 204.
    pub releases_confirmed: u32,
}

/// A running agent: a task that owns the core state machine, its timer and its
/// HTTP client. Dropping it stops the agent and releases its grant in the
/// background; `stop()` does the same and waits for it.
#[derive(Debug)]
pub struct Agent {
    events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
}

impl Agent {
    /// Starts the agent on the current tokio runtime; the first grant request
    /// goes out at once. Must be called from within a runtime.
    pub fn start(options: AgentOptions) -> Result<Self, AgentError> {
        if options.managers.is_empty() {
            return Err(AgentError::NoManagers);
        }
        let managers = options
            .managers
            .iter()
            .map(|u| crate::client::normalise_base(u))
            .collect::<Result<Vec<_>, _>>()?;
        let http = http_client(options.ca_cert.as_deref(), options.request_timeout)?;
        let seed = match options.seed {
            Some(seed) => seed,
            None => getrandom::u64().map_err(|e| AgentError::Entropy(e.to_string()))?,
        };
        let mut config = AgentConfig::new(options.request, managers.len());
        config.request_timeout = options.request_timeout;
        config.max_sleep = tenure_core::agent::DRIVER_MAX_SLEEP;
        let (event_tx, events) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let driver = Driver::new(config, seed, http, managers, event_tx);
        let task = tokio::spawn(driver.run(command_rx));
        Ok(Self {
            events,
            commands,
            task: Some(task),
        })
    }

    /// The next event; `None` once the driver has ended (after `stop`). Cancel
    /// safe, so it can sit in a `select!`.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The event channel itself, for callers that want to own the loop.
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }

    /// Clean stop (A5): releases the grant held, if any, waiting at most the
    /// request timeout for the manager's answer.
    pub async fn stop(mut self) -> StopSummary {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Stop(reply)).is_err() {
            return StopSummary::default();
        }
        let summary = answer.await.unwrap_or_default();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        summary
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The task sees the closed command channel and stops, releasing on its own.
        self.task.take();
    }
}
