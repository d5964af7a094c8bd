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
    lines: Vec<(Instant, String)>,
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

    /// Its stderr so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines_since(None)
    }

    /// Its stderr lines that arrived at or after `since` (all for `None`).
    pub fn lines_since(&self, since: Option<Instant>) -> Vec<String> {
        self.log
            .lock()
            .map(|l| {
                l.lines
                    .iter()
                    .filter(|(t, _)| since.is_none_or(|s| *t >= s))
                    .map(|(_, line)| line.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Its last `n` log lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The wrapped command's pid once it started.
    pub fn command_pid(&self) -> Option<i32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The wrapped command started and still runs.
    pub fn command_alive(&self) -> bool {
        self.command_pid().is_some_and(pid_alive)
    }

    /// The agent process's pid.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    /// Sends `sig` to the agent process only (SIGSTOP cuts it off: its
    /// command runs on, as it would behind a broken network).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        signal(self.pid(), sig);
    }

    /// Its exit code once it has exited (128+N for signal N).
    pub fn exit_code(&mut self) -> Option<i32> {
        if self.exit.is_none()
            && let Ok(Some(s)) = self.child.try_wait()
        {
            use std::os::unix::process::ExitStatusExt;
            self.exit = s.code().or_else(|| s.signal().map(|n| 128 + n));
        }
        self.exit
    }

    /// Waits at most `limit` for it to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(code) = self.exit_code() {
                return Some(code);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Successful contacts (grant, renewal, re-grant, recovery) so far.
    pub fn successes(&self) -> Vec<Instant> {
        self.events()
            .into_iter()
            .filter(|(_, k)| matches!(k, Kind::Success | Kind::Recovered))
            .map(|(t, _)| t)
            .collect()
    }

    /// Every grant id it logged (first grant, renewals, re-grants), in order.
    pub fn grant_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for line in self.lines() {
            if let Some((_, rest)) = line.split_once("grant_id=") {
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if !id.is_empty() && ids.last() != Some(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Whether it logged a re-grant (the manager had forgotten its grant) at
    /// or after `since`.
    pub fn regranted_since(&self, since: Instant) -> bool {
        self.lines_since(Some(since))
            .iter()
            .any(|l| l.contains("got a new one"))
    }
}

pub fn pid_alive(pid: i32) -> bool {
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

/// How to run one agent.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub managers: String,
    pub product: String,
    /// Extra environment, e.g. libfaketime.
    pub env: Vec<(String, String)>,
}

impl Spec {
    pub fn new(name: &str, managers: &str, product: &str) -> Self {
        Self {
            name: name.into(),
            managers: managers.into(),
            product: product.into(),
            env: Vec::new(),
        }
    }
}

fn spawn(bin: &Path, dir: &Path, spec: &Spec) -> Agent {
    let pidfile = dir.join(format!("{}.pid", spec.name));
    let mut child = Command::new(bin)
        .args([
            "run",
            "--manager",
            &spec.managers,
            "--product",
            &spec.product,
        ])
        .args(["--hostname", &spec.name, "--port", "9999", "--cores", "2"])
        .args(["--request-timeout", "2s", "--kill-timeout", "2s"])
        .arg("--")
        .args([
            "sh",
            "-c",
            &format!("echo $$ > {}; exec sleep 3600", pidfile.display()),
        ])
        .env("RUST_LOG", "info,tenure_agent=debug")
        .env("NO_COLOR", "1")
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
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
                l.lines.push((at, line));
            }
        }
    });
    Agent {
        name: spec.name.clone(),
        child,
        pidfile,
        log,
        exit: None,
    }
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
        let specs = (0..n)
            .map(|i| Spec::new(&format!("{prefix}-{i}"), managers, product))
            .collect();
        Self::launch(bin, specs)
    }

    /// One agent per spec.
    pub fn launch(bin: &Path, specs: Vec<Spec>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-fleet-")
            .tempdir()
            .expect("temp dir");
        let agents = specs.iter().map(|s| spawn(bin, dir.path(), s)).collect();
        Self { agents, dir }
    }

    pub fn agent(&self, name: &str) -> &Agent {
        self.agents
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
    }

    pub fn agent_mut(&mut self, name: &str) -> &mut Agent {
        self.agents
            .iter_mut()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
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
        self.report_except(since, &[])
    }

    /// The figures of every agent but those named in `except`.
    pub fn report_except(&self, since: Instant, except: &[&str]) -> FleetReport {
        let now = Instant::now();
        let agents: Vec<&Agent> = self
            .agents
            .iter()
            .filter(|a| !except.contains(&a.name.as_str()))
            .collect();
        let mut r = FleetReport {
            agents: agents.len(),
            ..FleetReport::default()
        };
        let mut firsts = Vec::new();
        for a in agents {
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
            // A stopped (SIGSTOP) agent would hold SIGTERM until continued.
            signal(
                i32::try_from(a.child.id()).unwrap_or(0),
                nix::sys::signal::Signal::SIGCONT,
            );
            signal(
                i32::try_from(a.child.id()).unwrap_or(0),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let start = Instant::now();
        for a in &mut self.agents {
            while a.exit.is_none() && start.elapsed() < limit {
                if a.exit_code().is_none() {
                    std::thread::sleep(Duration::from_millis(20));
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
