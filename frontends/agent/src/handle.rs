//! The public face of the driver: start, events, stop.

use crate::driver::{Command, Driver};
use crate::error::AgentError;
use crate::http::{is_plain_off_loopback, normalise_base};
use crate::options::AgentOptions;
use crate::runtime::{Runtime, default_runtime};
use crate::token::ComponentToken;
use async_channel::{Receiver, Sender};
use std::sync::{Arc, RwLock};
use tenure_core::agent::{AgentConfig, Event};

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
    events: Receiver<Event>,
    commands: Sender<Command>,
    token: Arc<RwLock<Option<ComponentToken>>>,
}

impl Agent {
    /// Starts the agent on the default runtime: the current tokio runtime
    /// (feature `tokio`, when called inside one), else smol's global
    /// executor (feature `smol`). The first grant request goes out at once.
    pub fn start(options: AgentOptions) -> Result<Self, AgentError> {
        let runtime = default_runtime().ok_or(AgentError::NoRuntime)?;
        Self::start_on(runtime, options)
    }

    /// Starts the agent on `runtime`.
    pub fn start_on(runtime: Arc<dyn Runtime>, options: AgentOptions) -> Result<Self, AgentError> {
        if options.managers.is_empty() {
            return Err(AgentError::NoManagers);
        }
        let managers = options
            .managers
            .iter()
            .map(|u| normalise_base(u))
            .collect::<Result<Vec<_>, _>>()?;
        for url in managers.iter().filter(|u| is_plain_off_loopback(u)) {
            if options.token.is_some() {
                tracing::warn!(
                    manager = %url,
                    "plain http:// to a manager off this host: the component token, grant requests and answers travel unencrypted (A8, M10); anyone on the path can copy the token; use https://"
                );
            } else {
                tracing::warn!(
                    manager = %url,
                    "plain http:// to a manager off this host: grant requests and answers travel unencrypted and unauthenticated (A8); use https://"
                );
            }
        }
        let client = runtime.http_client(options.ca_cert.as_deref())?;
        let seed = match options.seed {
            Some(seed) => seed,
            None => getrandom::u64().map_err(|e| AgentError::Entropy(e.to_string()))?,
        };
        let mut config = AgentConfig::new(options.request, managers.len());
        config.request_timeout = options.request_timeout;
        config.max_sleep = tenure_core::agent::DRIVER_MAX_SLEEP;
        let (event_tx, events) = async_channel::unbounded();
        let (commands, command_rx) = async_channel::unbounded();
        let token = Arc::new(RwLock::new(options.token));
        let driver = Driver::new(
            config,
            seed,
            runtime.clone(),
            client,
            managers,
            token.clone(),
            event_tx,
        );
        runtime.spawn(Box::pin(driver.run(command_rx)));
        Ok(Self {
            events,
            commands,
            token,
        })
    }

    /// Sends `token` from the next request on: a component token rotated
    /// while the agent runs (M10; the managers accept old and new meanwhile).
    pub fn set_token(&self, token: Option<ComponentToken>) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// The next event; `None` once the driver has ended (after `stop`). Cancel
    /// safe, so it can sit in a `select!`.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await.ok()
    }

    /// Clean stop (A5): releases the grant held, if any, waiting at most the
    /// request timeout for the manager's answer.
    pub async fn stop(self) -> StopSummary {
        let (reply, answer) = async_channel::bounded(1);
        if self.commands.send(Command::Stop(reply)).await.is_err() {
            return StopSummary::default();
        }
        answer.recv().await.unwrap_or_default()
    }
}
