//! The metrics registry, exposed by `prometheus-client` in the Prometheus text
//! format 0.0.4 (`# HELP`/`# TYPE`, counters named `..._total`), which every
//! Prometheus scrapes and `docs/alerts.yml` is written against.
//!
//! Counters and the latency histogram are the crate's own metrics, counted as
//! each request ends; a labelled one is declared from its first sample on
//! (the registry skips an empty family), which costs no series. The gauges are state that heartbeats and sweeps replace
//! whole, so they are kept under one lock and read by a collector at scrape
//! time: a scrape never sees a pool list half replaced, and a gauge with
//! nothing to tell yet (no license read) is left out rather than shown as 0.

mod license;

use license::LicenseGauges;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The exposition's `Content-Type`: the text format the body is in.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

const BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

type Pool = (String, String);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DenialLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS_S)
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    grants: Counter,
    renewals: Counter,
    releases: Counter,
    denials: Family<DenialLabels, Counter>,
    storage_errors: Counter,
    overloaded: Counter,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    gauges: Arc<Gauges>,
}

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

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let denials = Family::<DenialLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let [grants, renewals, releases, storage_errors, overloaded] =
            std::array::from_fn(|_| Counter::default());
        let gauges = Arc::new(Gauges::default());

        // Counters are registered without `_total`: the encoder adds it, so
        // the served names are the ones the alert rules and dashboards read.
        // The encoder ends each help text with a full stop.
        let mut registry = Registry::default();
        registry.register(
            "tenure_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        for (name, help, counter) in [
            ("tenure_grants", "Grants given", &grants),
            ("tenure_renewals", "Renewals accepted", &renewals),
            (
                "tenure_releases",
                "Grants released by their component",
                &releases,
            ),
            (
                "tenure_storage_errors",
                "Requests that failed on storage",
                &storage_errors,
            ),
            (
                "tenure_overloaded",
                "Requests refused with 503 overloaded",
                &overloaded,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "tenure_denials",
            "Denied requests by error code",
            denials.clone(),
        );
        registry.register(
            "tenure_request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        registry.register_collector(Box::new(Arc::clone(&gauges)));

        Self {
            registry,
            requests,
            grants,
            renewals,
            releases,
            denials,
            storage_errors,
            overloaded,
            latency,
            gauges,
        }
    }
}

impl Metrics {
    pub fn record(&self, route: &'static str, status: u16, outcome: Outcome, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        match outcome {
            Outcome::Granted => {
                self.grants.inc();
            }
            Outcome::Renewed => {
                self.renewals.inc();
            }
            Outcome::Released => {
                self.releases.inc();
            }
            Outcome::Denied(reason) => {
                self.denials.get_or_create(&DenialLabels { reason }).inc();
            }
            Outcome::StorageError => {
                self.storage_errors.inc();
            }
            Outcome::Overloaded => {
                self.overloaded.inc();
            }
            Outcome::Other => {}
        }
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    pub fn storage_error(&self) {
        self.storage_errors.inc();
    }

    pub fn set_held(&self, pools: impl IntoIterator<Item = (String, String, u64, u64)>) {
        self.gauges.with(|g| {
            g.held = pools
                .into_iter()
                .map(|(e, p, s, c)| ((e, p), (s, c)))
                .collect();
        });
    }

    pub fn set_clock_offsets(&self, offsets: impl IntoIterator<Item = (String, i64)>) {
        self.gauges
            .with(|g| g.clock_offsets = offsets.into_iter().collect());
    }

    pub fn set_storage_clock(&self, c: &tenure_storage::ClockReport) {
        self.gauges.with(|g| {
            g.storage_clock = StorageClock {
                seen: c.seen,
                recorded: c.recorded.count,
                correction_ms: c.correction_ms,
                last_step_ms: c.recorded.last.as_ref().map_or(0, |s| s.step.size_ms),
            }
        });
    }

    pub fn set_serving(&self, serving: bool) {
        self.gauges.with(|g| g.serving = serving);
    }

    pub fn set_license(&self, license: &tenure_core::license::License) {
        let l = LicenseGauges::of(license);
        self.gauges.with(|g| g.license = Some(l));
    }

    pub fn set_in_grace(&self, pools: impl IntoIterator<Item = (String, String, u64)>) {
        self.gauges.with(|g| {
            g.in_grace = pools.into_iter().map(|(e, p, n)| ((e, p), n)).collect();
        });
    }

    pub fn set_live_managers(&self, n: usize) {
        self.gauges
            .with(|g| g.live_managers = u64::try_from(n).ok());
    }

    /// The exposition, in [`CONTENT_TYPE`]. Writing into a `String` cannot
    /// fail; an error would come from an encoder, and is passed on rather
    /// than served as a partial scrape.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(4096);
        prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
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
struct GaugeState {
    held: BTreeMap<Pool, (u64, u64)>,
    clock_offsets: BTreeMap<String, i64>,
    storage_clock: StorageClock,
    serving: bool,
    license: Option<LicenseGauges>,
    in_grace: BTreeMap<Pool, u64>,
    live_managers: Option<u64>,
}

#[derive(Debug, Default)]
struct Gauges(Mutex<GaugeState>);

impl Gauges {
    fn with<T>(&self, f: impl FnOnce(&mut GaugeState) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut g)
    }
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.with(|g| {
            let e = &mut encoder;
            pool_gauge(
                e,
                "tenure_held_grants",
                "Grants held per pool.",
                g.held.iter().map(|(pool, (servers, _))| (pool, *servers)),
            )?;
            pool_gauge(
                e,
                "tenure_held_cores",
                "Cores held per pool.",
                g.held.iter().map(|(pool, (_, cores))| (pool, *cores)),
            )?;
            let mut offsets = e.encode_descriptor(
                "tenure_clock_offset_ms",
                "Storage clock minus a manager's clock, by manager.",
                None,
                MetricType::Gauge,
            )?;
            for (node, ms) in &g.clock_offsets {
                ConstGauge::new(*ms).encode(offsets.encode_family(&[("node", node.as_str())])?)?;
            }
            let steps = g.storage_clock;
            // The encoder adds `_total`: served as tenure_storage_clock_steps_total.
            ConstCounter::new(steps.seen).encode(e.encode_descriptor(
                "tenure_storage_clock_steps",
                "Storage clock steps this manager found.",
                None,
                MetricType::Counter,
            )?)?;
            gauge(
                e,
                "tenure_storage_clock_steps_recorded",
                "Storage clock steps recorded in storage by any manager.",
                steps.recorded,
            )?;
            gauge(
                e,
                "tenure_storage_clock_correction_ms",
                "How far deadlines are held back for storage clock steps forward.",
                steps.correction_ms,
            )?;
            gauge(
                e,
                "tenure_storage_clock_last_step_ms",
                "Size of the latest recorded storage clock step, negative when back; 0 without one.",
                steps.last_step_ms,
            )?;
            gauge(
                e,
                "tenure_serving",
                "1 when this manager serves.",
                u32::from(g.serving),
            )?;
            license::encode(e, g.license.as_ref(), &g.in_grace, g.live_managers)
        })
    }
}

/// One gauge without labels.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A gauge per pool, labelled `environment` and `product`; the descriptor is
/// written even with no pool, as the alert rules' tests expect every series
/// they read to be declared.
fn pool_gauge<'p, V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    pools: impl IntoIterator<Item = (&'p Pool, V)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for ((environment, product), v) in pools {
        let labels = [
            ("environment", environment.as_str()),
            ("product", product.as_str()),
        ];
        ConstGauge::new(v).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
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
        let text = m.render().expect("metrics encode");
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
        let text = m.render().expect("metrics encode");
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
