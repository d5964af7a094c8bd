//! A temp dir with the vendor key, a signed HA license and the admin token.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;

pub const TOKEN: &str = "ha-e2e-admin-token-7c1d0b9e4f2a";
const VENDOR_SEED: [u8; 32] = [0x4a; 32];

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug)]
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub license_id: String,
}

impl Setup {
    /// A license with `max_managers`, `grace_period_s`, and `production/<p>`
    /// limited to `max_servers` for each `(p, max_servers)`.
    pub fn new(
        license_id: &str,
        max_managers: u32,
        grace_s: u64,
        products: &[(&str, u64)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-ha-")
            .tempdir()
            .expect("temp dir");
        let key = SecretKey::from_seed(VENDOR_SEED);
        let name = |s: &str| Name::parse("test", s).expect("valid name");
        let mut per_product = BTreeMap::new();
        for (p, max) in products {
            per_product.insert(
                name(p),
                Limits {
                    max_servers: Some(*max),
                    ..Limits::default()
                },
            );
        }
        let mut limits = BTreeMap::new();
        limits.insert(name("production"), per_product);
        let now = now_ms();
        let license = License {
            license_id: license_id.into(),
            licensee: "HA End-to-End Co".into(),
            issued_at: UnixMillis(now - 60_000),
            not_before: UnixMillis(now - 86_400_000),
            not_after: UnixMillis(now + 30 * 86_400_000),
            max_managers,
            grace_period_s: grace_s,
            limits,
            extra: BTreeMap::new(),
        };
        let p = dir.path();
        std::fs::write(p.join("vendor.pub"), key.verifying_key().to_armoured())
            .expect("vendor.pub");
        std::fs::write(p.join("license.lic"), sign(&license, &key).expect("sign"))
            .expect("license");
        std::fs::write(p.join("admin.token"), format!("{TOKEN}\n")).expect("token");
        // `serve` refuses a token file open to others (§7.1).
        std::fs::set_permissions(
            p.join("admin.token"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod token");
        Self {
            dir,
            license_id: license_id.into(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An embedded SQLite database in the temp dir (one manager).
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.path("tenure.db").display())
    }
}
