//! The licensed command. It runs in its own process group so that a stop
//! reaches every process it started: a shell wrapper must not leave the real
//! server running after the license says stop (I2), nor after it exits (A7).

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
    /// Forks from the calling thread, which must live as long as the agent
    /// (see `die_with_agent`).
    pub fn spawn(argv: &[String]) -> std::io::Result<Self> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"))?;
        let mut command = Command::new(program);
        command.args(args).process_group(0);
        die_with_agent(&mut command);
        let child = command.spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        Ok(Self { child, group })
    }

    /// Waits for the command's main process. Anything it left running in
    /// its group then gets SIGKILL (A7): the command ends as a whole, before
    /// the grant is released.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        self.signal(Signal::SIGKILL);
        status
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
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                self.signal(Signal::SIGKILL);
                status
            }
            Err(_) => {
                tracing::warn!("command still running {grace:?} after {signal}: sending SIGKILL");
                self.signal(Signal::SIGKILL);
                self.wait().await
            }
        }
    }
}

/// A7 on Linux: the command gets SIGKILL when the agent dies, even of a
/// SIGKILL that leaves it no time to stop anything.
///
/// The signal is tied to the thread that forks, not to the process: the
/// caller forks from the main thread, which lives as long as the agent.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn die_with_agent(command: &mut Command) {
    let agent = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls may be made. It makes three system calls,
    // prctl(2), getppid(2) and _exit(2), all async-signal-safe; it allocates
    // nothing and takes no lock (`agent` is a plain integer copied in).
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The agent may have died between fork and prctl, before there
            // was a death to signal: then the command must not start at all.
            if nix::unistd::getppid() != agent {
                libc::_exit(crate::exit::PARENT_GONE);
            }
            Ok(())
        });
    }
}

/// Elsewhere the command only ends with the agent on a stop or its exit.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_agent(_command: &mut Command) {}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => super::exit::for_signal(signal),
        (None, None) => super::exit::INTERNAL,
    }
}
