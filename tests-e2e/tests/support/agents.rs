//! A fleet of real `tenure-agent run ... -- sh -c 'exec sleep'` processes.
//! Each agent's stderr is read line by line as it is written and every
//! licensing event is stamped with the instant it arrived, which gives the
//! renewal gaps and grace periods each agent went through.

use super::{note, secs};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// First grant (`licensed`), renewal, re-grant or recovery: a successful contact.
    Success,
    /// `no manager reachable: running on grace ...`
    Grace,
    /// `a manager answered again: grace is over`
    Recovered,
    MustStop,
}

fn classify(line: &str) -> Option<Kind> {
    if line.contains("running on grace") {
        Some(Kind::Grace)
    } else if line.contains("grace is over") {
        Some(Kind::Recovered)
    } else if line.contains("must stop") {
        Some(Kind::MustStop)
    } else if line.contains(": renewed")
        || line.contains(": licensed")
        || line.contains("got a new one")
    {
        Some(Kind::Success)
    } else {
        None
    }
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<(Instant, Kind)>,
    lines: Vec<String>,
}

#[derive(Debug)]
pub struct Agent {
    pub name: String,
    child: Child,
    pidfile: PathBuf,
    log: Arc<Mutex<Log>>,
    exit: Option<i32>,
}

impl Agent {
    fn events(&self) -> Vec<(Instant, Kind)> {
        self.log
            .lock()
            .map(|l| l.events.clone())
            .unwrap_or_default()
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.lines.clone()).unwrap_or_default()
    }

    /// The wrapped command's pid once it started.
    pub fn command_pid(&self) -> Option<i32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn successes(&self) -> Vec<Instant> {
        self.events()
            .into_iter()
            .filter(|(_, k)| matches!(k, Kind::Success | Kind::Recovered))
            .map(|(t, _)| t)
            .collect()
    }
}

fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; its state letter says it is gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// What the fleet went through in a window of the test.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    pub agents: usize,
    /// Longest time between two successful contacts of one agent (including
    /// the time since its last one, if it has not renewed since).
    pub worst_gap: Duration,
    pub worst_gap_agent: String,
    /// From `since` to each agent's first successful contact after it: the worst.
    pub worst_first_success: Duration,
    pub median_first_success: Duration,
    /// How many agents entered grace, and the longest grace (until the next success).
    pub entered_grace: usize,
    pub longest_grace: Duration,
    pub must_stop: usize,
    /// Agents with no successful contact after `since`.
    pub silent: Vec<String>,
}

impl FleetReport {
    pub fn print(&self, label: &str) {
        note(&format!(
            "FIGURES {label}: agents={} worst_renewal_gap={} ({}) first_renewal_after_event: worst={} median={} entered_grace={} longest_grace={} must_stop={} silent={}",
            self.agents,
            secs(self.worst_gap),
            self.worst_gap_agent,
            secs(self.worst_first_success),
            secs(self.median_first_success),
            self.entered_grace,
            secs(self.longest_grace),
            self.must_stop,
            self.silent.len()
        ));
    }
}

#[derive(Debug)]
pub struct Fleet {
    pub agents: Vec<Agent>,
    dir: tempfile::TempDir,
}

impl Fleet {
    /// `n` agents for `production/<product>`, hostnames `<prefix>-<i>`, all
    /// through `managers` (comma-separated URLs).
    pub fn start(bin: &Path, managers: &str, product: &str, prefix: &str, n: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-fleet-")
            .tempdir()
            .expect("temp dir");
        let mut agents = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}-{i}");
            let pidfile = dir.path().join(format!("{name}.pid"));
            let mut child = Command::new(bin)
                .args(["run", "--manager", managers, "--product", product])
                .args(["--hostname", &name, "--port", "9999", "--cores", "2"])
                .args(["--request-timeout", "2s", "--kill-timeout", "2s"])
                .arg("--")
                .args([
                    "sh",
                    "-c",
                    &format!("echo $$ > {}; exec sleep 3600", pidfile.display()),
                ])
                .env("RUST_LOG", "info,tenure_agent=debug")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let stderr = child.stderr.take().expect("stderr piped");
            let log = Arc::new(Mutex::new(Log::default()));
            let keep = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let at = Instant::now();
                    if let Ok(mut l) = keep.lock() {
                        if let Some(kind) = classify(&line) {
                            l.events.push((at, kind));
                        }
                        l.lines.push(line);
                    }
                }
            });
            agents.push(Agent {
                name,
                child,
                pidfile,
                log,
                exit: None,
            });
        }
        Self { agents, dir }
    }

    /// Every agent licensed and its command running.
    pub fn wait_started(&self, limit: Duration) -> bool {
        super::wait_until(limit, || {
            self.agents.iter().all(|a| {
                a.command_pid().is_some_and(pid_alive)
                    && a.events().iter().any(|(_, k)| *k == Kind::Success)
            })
        })
    }

    /// Agents whose process or command is no longer running.
    pub fn dead(&mut self) -> Vec<String> {
        let mut dead = Vec::new();
        for a in &mut self.agents {
            let agent_gone = !matches!(a.child.try_wait(), Ok(None));
            let command_gone = !a.command_pid().is_some_and(pid_alive);
            if agent_gone || command_gone {
                dead.push(format!(
                    "{} (agent exited: {agent_gone}, command gone: {command_gone})",
                    a.name
                ));
            }
        }
        dead
    }

    /// The fleet's figures from `since` until now.
    pub fn report(&self, since: Instant) -> FleetReport {
        let now = Instant::now();
        let mut r = FleetReport {
            agents: self.agents.len(),
            ..FleetReport::default()
        };
        let mut firsts = Vec::new();
        for a in &self.agents {
            let ok = a.successes();
            // Gaps that end after `since`, measured from the success before.
            let mut prev: Option<Instant> = None;
            for &t in &ok {
                if let Some(p) = prev
                    && t >= since
                {
                    let gap = t - p;
                    if gap > r.worst_gap {
                        r.worst_gap = gap;
                        r.worst_gap_agent.clone_from(&a.name);
                    }
                }
                prev = Some(t);
            }
            if let Some(p) = prev {
                let open = now - p;
                if open > r.worst_gap {
                    r.worst_gap = open;
                    r.worst_gap_agent = format!("{} (no success since)", a.name);
                }
            }
            match ok.iter().find(|&&t| t >= since) {
                Some(&t) => firsts.push(t - since),
                None => r.silent.push(a.name.clone()),
            }
            let events = a.events();
            let mut graced = false;
            for (i, &(t, k)) in events.iter().enumerate() {
                match k {
                    Kind::Grace if t >= since => {
                        graced = true;
                        let end = events[i..]
                            .iter()
                            .find(|(_, k)| matches!(k, Kind::Success | Kind::Recovered))
                            .map_or(now, |(e, _)| *e);
                        r.longest_grace = r.longest_grace.max(end - t);
                    }
                    Kind::MustStop => r.must_stop += 1,
                    _ => {}
                }
            }
            if graced {
                r.entered_grace += 1;
            }
        }
        firsts.sort();
        r.worst_first_success = firsts.last().copied().unwrap_or_default();
        r.median_first_success = firsts.get(firsts.len() / 2).copied().unwrap_or_default();
        r
    }

    /// The last lines of a few agents' logs, for failure messages.
    pub fn logs(&self, names: &[String], max_agents: usize) -> String {
        let mut out = String::new();
        for a in self
            .agents
            .iter()
            .filter(|a| names.is_empty() || names.iter().any(|n| n.starts_with(&a.name)))
            .take(max_agents)
        {
            let lines = a.lines();
            let from = lines.len().saturating_sub(12);
            out.push_str(&format!(
                "-- agent {}:\n{}\n",
                a.name,
                lines[from..].join("\n")
            ));
        }
        out
    }

    /// SIGTERM every agent (it passes the signal on and releases its grant),
    /// then wait for all to exit; returns the exit codes.
    pub fn stop(&mut self, limit: Duration) -> Vec<Option<i32>> {
        for a in &self.agents {
            signal(
                i32::try_from(a.child.id()).unwrap_or(0),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let start = Instant::now();
        for a in &mut self.agents {
            while a.exit.is_none() && start.elapsed() < limit {
                match a.child.try_wait() {
                    Ok(Some(s)) => {
                        use std::os::unix::process::ExitStatusExt;
                        a.exit = s.code().or_else(|| s.signal().map(|n| 128 + n));
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        self.agents.iter().map(|a| a.exit).collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let names: Vec<String> = Vec::new();
            note(&format!(
                "---- fleet logs (first agents):\n{}",
                self.logs(&names, 3)
            ));
        }
        let _ = self.stop(Duration::from_secs(5));
        for a in &mut self.agents {
            if a.exit.is_none() {
                let _ = a.child.kill();
                let _ = a.child.wait();
            }
            if let Some(pid) = a.command_pid()
                && pid_alive(pid)
            {
                signal(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let _ = &self.dir;
    }
}
