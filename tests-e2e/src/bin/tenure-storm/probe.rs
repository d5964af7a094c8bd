//! The manager's memory and CPU, and a ping on a connection of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

pub fn proc_status(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or("?".into(), |kb| format!("{:.0} MiB", kb as f64 / 1024.0))
    };
    format!("VmRSS {} (VmHWM {})", field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds of a process (clock ticks of 100 Hz).
pub fn cpu_s(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Once a second: CPU seconds used by the manager and by this program, and
/// how long a `GET /pingLicenseManager` on its own connection took (ms), as a
/// probe of the manager's responsiveness outside the storm's connections.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    pub manager_cpu: f64,
    pub own_cpu: f64,
    pub ping_ms: f64,
}

pub fn sampler(
    base: Arc<str>,
    pid: Option<u32>,
    t0: Instant,
    out: Arc<Mutex<Vec<Sample>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(http) = tenure_agent::runtime::reqwest_client(None, Some(Duration::from_secs(10)))
        else {
            return;
        };
        let url = format!("{base}/pingLicenseManager");
        let mut k = 1u32;
        let (mut m0, mut o0) = (pid.map_or(0.0, |p| cpu_s(&p.to_string())), cpu_s("self"));
        loop {
            sleep_until(t0 + Duration::from_secs(u64::from(k))).await;
            k += 1;
            let started = Instant::now();
            let ok = matches!(http.get(&url).send().await, Ok(r) if r.status().is_success());
            let ping_ms = if ok {
                started.elapsed().as_secs_f64() * 1000.0
            } else {
                f64::NAN
            };
            let (m1, o1) = (pid.map_or(0.0, |p| cpu_s(&p.to_string())), cpu_s("self"));
            if let Ok(mut out) = out.lock() {
                out.push(Sample {
                    manager_cpu: m1 - m0,
                    own_cpu: o1 - o0,
                    ping_ms,
                });
            }
            (m0, o0) = (m1, o1);
        }
    })
}
