//! Licenses for the servers under test, signed with a fixed vendor key.

use std::collections::BTreeMap;
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;

/// The vendor key every server under test trusts (`vendor.pub`).
pub const VENDOR_SEED: [u8; 32] = [0x5e; 32];
/// A key no server under test trusts.
pub const UNTRUSTED_SEED: [u8; 32] = [0x77; 32];

pub const DAY_MS: i64 = 86_400_000;
/// `grace_period_s` of the standard license; not the default, so a response
/// that echoes it shows it came from the license.
pub const GRACE_S: u64 = 86_400;
/// `not_after` of the standard license is this far ahead.
pub const VALID_FOR_MS: i64 = 30 * DAY_MS;

/// A 128-character environment and product, licensed, for the name bounds.
pub fn long_env() -> String {
    "e".repeat(128)
}
pub fn long_product() -> String {
    "p".repeat(128)
}

pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("millis fit")
}

fn name(s: &str) -> Name {
    Name::parse("test", s).expect("valid name")
}

pub fn limits(servers: Option<u64>, per: Option<u64>, total: Option<u64>) -> Limits {
    Limits {
        max_servers: servers,
        max_cores_per_server: per,
        max_total_cores: total,
        extra: BTreeMap::new(),
    }
}

/// A license and how to sign it.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub license: License,
}

impl Fixture {
    /// The standard license of the suite:
    /// - production/vdp: `max_servers=2, max_cores_per_server=16, max_total_cores=20`
    /// - production/open and staging/vdp: unlimited
    /// - `e`x128 / `p`x128: unlimited (name length bounds)
    ///
    /// Issued an hour ago, valid since yesterday, for 30 days; one manager;
    /// grace one day.
    pub fn standard(license_id: &str) -> Self {
        let now = now_ms();
        let mut map: BTreeMap<Name, BTreeMap<Name, Limits>> = BTreeMap::new();
        let mut add = |env: &str, product: &str, l: Limits| {
            map.entry(name(env)).or_default().insert(name(product), l);
        };
        add("production", "vdp", limits(Some(2), Some(16), Some(20)));
        add("production", "open", limits(None, None, None));
        add("staging", "vdp", limits(None, None, None));
        add(&long_env(), &long_product(), limits(None, None, None));
        Self {
            license: License {
                license_id: license_id.into(),
                licensee: "Conformance Test Co".into(),
                issued_at: UnixMillis(now - 3_600_000),
                not_before: UnixMillis(now - DAY_MS),
                not_after: UnixMillis(now + VALID_FOR_MS),
                max_managers: 1,
                grace_period_s: GRACE_S,
                limits: map,
                extra: BTreeMap::new(),
            },
        }
    }

    pub fn id(&self) -> &str {
        &self.license.license_id
    }

    /// The armoured license signed by the trusted vendor key.
    pub fn armoured(&self) -> String {
        self.armoured_with(VENDOR_SEED)
    }

    pub fn armoured_with(&self, seed: [u8; 32]) -> String {
        sign(&self.license, &SecretKey::from_seed(seed)).expect("a valid license signs")
    }
}

/// `vendor.pub`: the trusted vendor public key.
pub fn vendor_pub() -> String {
    SecretKey::from_seed(VENDOR_SEED)
        .verifying_key()
        .to_armoured()
}

/// The armoured text with one payload byte changed (its signature no longer holds).
pub fn tampered(armoured: &str) -> String {
    let mut lines: Vec<String> = armoured.lines().map(str::to_owned).collect();
    // The body starts after the blank line that ends the headers.
    let blank = lines
        .iter()
        .position(|l| l.trim().is_empty())
        .expect("armour has a blank line");
    let line = &mut lines[blank + 1];
    let mut chars: Vec<char> = line.chars().collect();
    chars[4] = if chars[4] == 'A' { 'B' } else { 'A' };
    *line = chars.into_iter().collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
