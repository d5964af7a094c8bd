//! The metrics registry, rendered as Prometheus text. Hand-rolled: a handful
//! of counters, gauges and one histogram do not need a framework.

mod license;

use license::LicenseGauges;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS_S.len()],
    sum_s: f64,
    total: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    grants: u64,
    renewals: u64,
    releases: u64,
    denials: BTreeMap<&'static str, u64>,
    storage_errors: u64,
    overloaded: u64,
    latency: BTreeMap<&'static str, Histogram>,
    held: BTreeMap<(String, String), (u64, u64)>,
    clock_offsets: BTreeMap<String, i64>,
    storage_clock: StorageClock,
    serving: bool,
    license: Option<LicenseGauges>,
    in_grace: BTreeMap<(String, String), u64>,
    live_managers: Option<u64>,
}

/// Storage clock steps (M9), from the latest heartbeat.
#[derive(Debug, Default, Clone, Copy)]
struct StorageClock {
    seen: u64,
    recorded: u64,
    correction_ms: i64,
    last_step_ms: i64,
}

#[derive(Debug, Default)]
pub struct Metrics(Mutex<Inner>);

/// What a request did, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    Renewed,
    Released,
    Denied(&'static str),
    StorageError,
    Overloaded,
    Other,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    pub fn record(&self, route: &'static str, status: u16, outcome: Outcome, took: Duration) {
        self.with(|m| {
            *m.requests.entry((route, status)).or_default() += 1;
            match outcome {
                Outcome::Granted => m.grants += 1,
                Outcome::Renewed => m.renewals += 1,
                Outcome::Released => m.releases += 1,
                Outcome::Denied(code) => *m.denials.entry(code).or_default() += 1,
                Outcome::StorageError => m.storage_errors += 1,
                Outcome::Overloaded => m.overloaded += 1,
                Outcome::Other => {}
            }
            let h = m.latency.entry(route).or_default();
            let s = took.as_secs_f64();
            for (i, b) in BUCKETS_S.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum_s += s;
            h.total += 1;
        });
    }

    pub fn storage_error(&self) {
        self.with(|m| m.storage_errors += 1);
    }

    pub fn set_held(&self, pools: impl IntoIterator<Item = (String, String, u64, u64)>) {
        self.with(|m| {
            m.held = pools
                .into_iter()
                .map(|(e, p, s, c)| ((e, p), (s, c)))
                .collect();
        });
    }

    pub fn set_clock_offsets(&self, offsets: impl IntoIterator<Item = (String, i64)>) {
        self.with(|m| m.clock_offsets = offsets.into_iter().collect());
    }

    pub fn set_storage_clock(&self, c: &tenure_storage::ClockReport) {
        self.with(|m| {
            m.storage_clock = StorageClock {
                seen: c.seen,
                recorded: c.recorded.count,
                correction_ms: c.correction_ms,
                last_step_ms: c.recorded.last.as_ref().map_or(0, |s| s.step.size_ms),
            }
        });
    }

    pub fn set_serving(&self, serving: bool) {
        self.with(|m| m.serving = serving);
    }

    pub fn set_license(&self, license: &tenure_core::license::License) {
        let gauges = LicenseGauges::of(license);
        self.with(|m| m.license = Some(gauges));
    }

    pub fn set_in_grace(&self, pools: impl IntoIterator<Item = (String, String, u64)>) {
        self.with(|m| {
            m.in_grace = pools.into_iter().map(|(e, p, n)| ((e, p), n)).collect();
        });
    }

    pub fn set_live_managers(&self, n: usize) {
        self.with(|m| m.live_managers = u64::try_from(n).ok());
    }

    pub fn render(&self) -> String {
        let m = self.with(|m| {
            (
                m.requests.clone(),
                (
                    m.grants,
                    m.renewals,
                    m.releases,
                    m.storage_errors,
                    m.overloaded,
                ),
                m.denials.clone(),
                m.latency.clone(),
                m.held.clone(),
                m.clock_offsets.clone(),
                m.serving,
                m.storage_clock,
            )
        });
        let section63 = self.with(|m| (m.license.clone(), m.in_grace.clone(), m.live_managers));
        let (
            requests,
            (grants, renewals, releases, storage_errors, overloaded),
            denials,
            latency,
            held,
            offsets,
            serving,
            steps,
        ) = m;
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP tenure_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE tenure_requests_total counter");
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "tenure_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        for (name, help, v) in [
            ("tenure_grants_total", "Grants given.", grants),
            ("tenure_renewals_total", "Renewals accepted.", renewals),
            (
                "tenure_releases_total",
                "Grants released by their component.",
                releases,
            ),
            (
                "tenure_storage_errors_total",
                "Requests that failed on storage.",
                storage_errors,
            ),
            (
                "tenure_overloaded_total",
                "Requests refused with 503 overloaded.",
                overloaded,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tenure_denials_total Denied requests by error code."
        );
        let _ = writeln!(out, "# TYPE tenure_denials_total counter");
        for (code, n) in &denials {
            let _ = writeln!(out, "tenure_denials_total{{reason=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP tenure_held_grants Grants held per pool.");
        let _ = writeln!(out, "# TYPE tenure_held_grants gauge");
        for ((e, p), (s, _)) in &held {
            let _ = writeln!(
                out,
                "tenure_held_grants{{environment=\"{e}\",product=\"{p}\"}} {s}"
            );
        }
        let _ = writeln!(out, "# HELP tenure_held_cores Cores held per pool.");
        let _ = writeln!(out, "# TYPE tenure_held_cores gauge");
        for ((e, p), (_, c)) in &held {
            let _ = writeln!(
                out,
                "tenure_held_cores{{environment=\"{e}\",product=\"{p}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tenure_clock_offset_ms Storage clock minus a manager's clock, by manager."
        );
        let _ = writeln!(out, "# TYPE tenure_clock_offset_ms gauge");
        for (node, o) in &offsets {
            let _ = writeln!(out, "tenure_clock_offset_ms{{node=\"{node}\"}} {o}");
        }
        for (name, kind, help, v) in [
            (
                "tenure_storage_clock_steps_total",
                "counter",
                "Storage clock steps this manager found.",
                i64::try_from(steps.seen).unwrap_or(i64::MAX),
            ),
            (
                "tenure_storage_clock_steps_recorded",
                "gauge",
                "Storage clock steps recorded in storage by any manager.",
                i64::try_from(steps.recorded).unwrap_or(i64::MAX),
            ),
            (
                "tenure_storage_clock_correction_ms",
                "gauge",
                "How far deadlines are held back for storage clock steps forward.",
                steps.correction_ms,
            ),
            (
                "tenure_storage_clock_last_step_ms",
                "gauge",
                "Size of the latest recorded storage clock step, negative when back; 0 without one.",
                steps.last_step_ms,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let _ = writeln!(out, "# HELP tenure_serving 1 when this manager serves.");
        let _ = writeln!(
            out,
            "# TYPE tenure_serving gauge\ntenure_serving {}",
            u8::from(serving)
        );
        let _ = writeln!(
            out,
            "# HELP tenure_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE tenure_request_duration_seconds histogram");
        for (route, h) in &latency {
            for (i, b) in BUCKETS_S.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "tenure_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "tenure_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(
                out,
                "tenure_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "tenure_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.total
            );
        }
        let (lic, in_grace, live) = section63;
        license::render(&mut out, lic.as_ref(), &in_grace, live);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.record("grant", 201, Outcome::Granted, Duration::from_micros(700));
        m.record(
            "grant",
            403,
            Outcome::Denied("servers_exceeded"),
            Duration::from_millis(30),
        );
        m.set_held([("production".into(), "vdp".into(), 3, 24)]);
        let text = m.render();
        assert!(text.contains("tenure_grants_total 1\n"), "{text}");
        assert!(text.contains("tenure_denials_total{reason=\"servers_exceeded\"} 1"));
        assert!(text.contains("tenure_held_grants{environment=\"production\",product=\"vdp\"} 3"));
        assert!(
            text.contains("tenure_request_duration_seconds_bucket{route=\"grant\",le=\"0.001\"} 1")
        );
        assert!(
            text.contains("tenure_request_duration_seconds_bucket{route=\"grant\",le=\"0.05\"} 2")
        );
        assert!(text.contains("tenure_request_duration_seconds_count{route=\"grant\"} 2"));
    }

    #[test]
    fn renders_the_license_limits_and_grace_gauges() {
        let m = Metrics::default();
        let license: tenure_core::license::License = serde_json::from_str(
            r#"{"license_id":"L-1","licensee":"Acme","issued_at":"2026-01-01T00:00:00Z",
                "not_before":"2026-01-01T00:00:00Z","not_after":"2027-01-01T00:00:00Z",
                "max_managers":2,"grace_period_s":432000,
                "limits":{"production":{"vdp":{"max_servers":4,"max_total_cores":48},
                                        "sched":{"max_servers":2}}}}"#,
        )
        .expect("license json");
        m.set_license(&license);
        m.set_in_grace([("production".into(), "vdp".into(), 3)]);
        m.set_live_managers(2);
        let text = m.render();
        for want in [
            "tenure_license_expiry_timestamp_seconds 1798761600\n",
            "tenure_license_max_managers 2\n",
            "tenure_license_max_servers{environment=\"production\",product=\"vdp\"} 4\n",
            "tenure_license_max_servers{environment=\"production\",product=\"sched\"} 2\n",
            "tenure_license_max_total_cores{environment=\"production\",product=\"vdp\"} 48\n",
            "tenure_grants_in_grace{environment=\"production\",product=\"vdp\"} 3\n",
            "tenure_grants_in_grace{environment=\"production\",product=\"sched\"} 0\n",
            "tenure_managers_live 2\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("max_total_cores{environment=\"production\",product=\"sched\"}"));
    }
}
