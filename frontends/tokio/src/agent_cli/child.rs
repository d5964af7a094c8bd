//! The licensed command. It runs in its own process group so that a stop
//! reaches every process it started: a shell wrapper must not leave the real
//! server running after the license says stop (I2).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct Licensed {
    child: Child,
    group: Option<Pid>,
}

impl Licensed {
    pub fn spawn(argv: &[String]) -> std::io::Result<Self> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"))?;
        let child = Command::new(program).args(args).process_group(0).spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        Ok(Self { child, group })
    }

    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    pub fn signal(&self, signal: Signal) {
        if let Some(group) = self.group
            && let Err(e) = killpg(group, signal)
        {
            // ESRCH: everything in the group has already gone.
            tracing::debug!("cannot send {signal} to the command: {e}");
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns how the command ended.
    /// Stragglers left in the group after the leader exits get SIGKILL too.
    pub async fn terminate(
        &mut self,
        signal: Signal,
        grace: Duration,
    ) -> std::io::Result<ExitStatus> {
        self.signal(signal);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                tracing::warn!("command still running {grace:?} after {signal}: sending SIGKILL");
                self.signal(Signal::SIGKILL);
                self.child.wait().await?
            }
        };
        self.signal(Signal::SIGKILL);
        Ok(status)
    }
}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => super::exit::for_signal(signal),
        (None, None) => super::exit::INTERNAL,
    }
}
