//! `tenure-agent run`: wait for the grant (A1), run the command, stop it when
//! the agent must stop, end what is left of it when its main process exits
//! (A7), release the grant when it ends (A5).

use super::args::RunArgs;
use super::child::{Licensed, exit_code};
use super::events::{describe, log_event};
use super::exit;
use nix::sys::signal::Signal;
use std::time::Duration;
use tenure_agent::{Agent, AgentOptions, ComponentToken};
use tenure_core::agent::Event;
use tenure_core::duration::parse_duration;
use tenure_core::wire::RawGrantRequest;
use tokio::signal::unix::{SignalKind, signal};

pub async fn run(args: RunArgs) -> u8 {
    let (mut options, kill_timeout) = match options(&args) {
        Ok(o) => o,
        Err(message) => {
            tracing::error!("{message}");
            return exit::USAGE;
        }
    };
    if let Some(path) = &args.token_file {
        match ComponentToken::from_file(path) {
            Ok(token) => options.token = Some(token),
            Err(e) => {
                tracing::error!("{e}");
                return exit::CONFIG;
            }
        }
    }
    let instance = options.request.instance.to_string();
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for signals: {e}");
            return exit::INTERNAL;
        }
    };
    let mut agent = match Agent::start(options) {
        Ok(agent) => agent,
        Err(e) => {
            tracing::error!("{e}");
            return exit::CONFIG;
        }
    };
    tracing::info!(managers = ?args.manager, "asking for a grant");
    let hangup = Hangup {
        token_file: args.token_file.as_deref(),
    };
    if let Some(code) = wait_for_grant(&mut agent, &mut signals, hangup, &instance).await {
        agent.stop().await;
        return code;
    }
    let mut child = match Licensed::spawn(&args.command) {
        Ok(child) => child,
        Err(e) => {
            tracing::error!("cannot start {:?}: {e}", args.command[0]);
            release(agent).await;
            return if e.kind() == std::io::ErrorKind::NotFound {
                exit::NOT_FOUND
            } else {
                exit::CANNOT_EXECUTE
            };
        }
    };
    let code = supervise(
        &mut agent,
        &mut child,
        &mut signals,
        Supervision {
            kill_timeout,
            hangup,
        },
        &instance,
    )
    .await;
    release(agent).await;
    code
}

/// A1: nothing runs before a successful grant. `Some(code)` means give up.
async fn wait_for_grant(
    agent: &mut Agent,
    signals: &mut Signals,
    hangup: Hangup<'_>,
    instance: &str,
) -> Option<u8> {
    loop {
        tokio::select! {
            event = agent.next_event() => match event {
                Some(Event::Started { grant_id }) => {
                    tracing::info!(grant = %grant_id.short(), "licensed: starting the command");
                    return None;
                }
                Some(Event::MustStop(reason)) => {
                    tracing::error!("not licensed: {}; the command was not started", describe(reason, instance));
                    return Some(exit::for_stop(reason, false));
                }
                Some(other) => log_event(other, instance),
                None => return Some(exit::INTERNAL),
            },
            signal = signals.recv() => {
                if signal == Signal::SIGHUP {
                    hangup.reload(agent);
                    continue;
                }
                tracing::info!("got {signal} before the grant: not starting the command");
                return Some(exit::for_signal(signal as i32));
            }
        }
    }
}

/// What SIGHUP does: re-read the component token file (M10 rotation).
#[derive(Debug, Clone, Copy)]
struct Hangup<'a> {
    token_file: Option<&'a std::path::Path>,
}

impl Hangup<'_> {
    /// A file that no longer reads leaves the token in use as it was.
    fn reload(self, agent: &Agent) {
        let Some(path) = self.token_file else {
            return;
        };
        match ComponentToken::from_file(path) {
            Ok(token) => {
                agent.set_token(Some(token));
                tracing::info!(file = %path.display(), "component token re-read");
            }
            Err(e) => tracing::error!("component token not re-read, the one in use stays: {e}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Supervision<'a> {
    kill_timeout: Duration,
    hangup: Hangup<'a>,
}

async fn supervise(
    agent: &mut Agent,
    child: &mut Licensed,
    signals: &mut Signals,
    how: Supervision<'_>,
    instance: &str,
) -> u8 {
    let kill_timeout = how.kill_timeout;
    loop {
        tokio::select! {
            status = child.wait() => {
                return match status {
                    Ok(status) => {
                        tracing::info!("the command ended: {status}");
                        exit_code(status)
                    }
                    Err(e) => {
                        tracing::error!("cannot wait for the command: {e}");
                        exit::INTERNAL
                    }
                };
            }
            signal = signals.recv() => {
                if signal == Signal::SIGHUP {
                    // The command may reload on SIGHUP too (as daemons do).
                    how.hangup.reload(agent);
                    child.signal(Signal::SIGHUP);
                    continue;
                }
                tracing::info!("got {signal}: passing it on to the command");
                return match child.terminate(signal, kill_timeout).await {
                    Ok(status) => exit_code(status),
                    Err(_) => exit::INTERNAL,
                };
            }
            event = agent.next_event() => match event {
                Some(Event::MustStop(reason)) => {
                    tracing::error!("must stop: {}; stopping the command", describe(reason, instance));
                    if let Err(e) = child.terminate(Signal::SIGTERM, kill_timeout).await {
                        tracing::error!("cannot wait for the command: {e}");
                    }
                    return exit::for_stop(reason, true);
                }
                Some(other) => log_event(other, instance),
                None => {
                    // Without a driver nothing enforces the license: stop rather than run unchecked.
                    tracing::error!("the agent ended unexpectedly; stopping the command");
                    let _ = child.terminate(Signal::SIGTERM, kill_timeout).await;
                    return exit::INTERNAL;
                }
            },
        }
    }
}

async fn release(agent: Agent) {
    let summary = agent.stop().await;
    if summary.releases_sent > summary.releases_confirmed {
        tracing::warn!(
            "the manager did not confirm the release; the grant is freed when it times out"
        );
    } else if summary.releases_sent > 0 {
        tracing::info!("grant released");
    }
}

fn options(args: &RunArgs) -> Result<(AgentOptions, Duration), String> {
    let request = RawGrantRequest {
        environment: Some(args.environment.clone()),
        product: Some(args.product.clone()),
        hostname: Some(args.hostname.clone()),
        port: Some(i64::from(args.port)),
        ip: args.ip.clone(),
        cores: Some(i64::from(args.cores)),
        version: args.component_version.clone(),
        client_time_ms: None,
    }
    .validate()
    .map_err(|e| e.to_string())?;
    let request_timeout =
        parse_duration(&args.request_timeout).map_err(|e| format!("--request-timeout: {e}"))?;
    let kill_timeout =
        parse_duration(&args.kill_timeout).map_err(|e| format!("--kill-timeout: {e}"))?;
    let mut options = AgentOptions::new(args.manager.clone(), request);
    options.request_timeout = request_timeout;
    options.ca_cert = args.ca_cert.clone();
    Ok((options, kill_timeout))
}

/// SIGTERM and SIGINT, the two a service manager or a person sends to
/// stop, and SIGHUP, the one it sends to reload.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.hup.recv() => Signal::SIGHUP,
        }
    }
}
