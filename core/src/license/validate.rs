//! What a well-formed license payload must satisfy beyond its JSON shape, and
//! whether a valid license covers an instant.

use super::error::{LicenseError, Validity};
use super::payload::{Extra, License, Limits};
use crate::names::Name;
use crate::rfc3339;
use crate::time::UnixMillis;

pub const TEXT_MAX_CHARS: usize = 128;
/// One year: a longer grace would let a component outlive any realistic renewal.
pub const MAX_GRACE_PERIOD_S: u64 = 31_536_000;

const LICENSE_FIELDS: [&str; 8] = [
    "license_id",
    "licensee",
    "issued_at",
    "not_before",
    "not_after",
    "max_managers",
    "grace_period_s",
    "limits",
];
const LIMIT_FIELDS: [&str; 3] = ["max_servers", "max_cores_per_server", "max_total_cores"];

impl License {
    pub fn validate(&self) -> Result<(), LicenseError> {
        let malformed = |m: String| Err(LicenseError::Malformed(m));
        if let Err(e) = Name::parse("license_id", &self.license_id) {
            return malformed(e.to_string());
        }
        let licensee_len = self.licensee.chars().count();
        if !(1..=TEXT_MAX_CHARS).contains(&licensee_len) {
            return malformed(format!(
                "licensee has {licensee_len} characters; 1 to {TEXT_MAX_CHARS} are allowed"
            ));
        }
        if let Some(c) = self.licensee.chars().find(|c| c.is_control()) {
            return malformed(format!("licensee contains the control character {c:?}"));
        }
        for (field, t) in [
            ("issued_at", self.issued_at),
            ("not_before", self.not_before),
            ("not_after", self.not_after),
        ] {
            if let Err(e) = rfc3339::format(t) {
                return malformed(format!("{field}: {e}"));
            }
        }
        if self.not_before > self.not_after {
            return malformed(format!(
                "not_before ({}) is after not_after ({})",
                rfc3339::display(self.not_before),
                rfc3339::display(self.not_after)
            ));
        }
        if !(1..=2).contains(&self.max_managers) {
            return malformed(format!(
                "max_managers is {}; it must be 1, or 2 for active-passive",
                self.max_managers
            ));
        }
        if !(1..=MAX_GRACE_PERIOD_S).contains(&self.grace_period_s) {
            return malformed(format!(
                "grace_period_s is {}; it must be 1 to {MAX_GRACE_PERIOD_S}",
                self.grace_period_s
            ));
        }
        if let Some(key) = shadowing(&self.extra, &LICENSE_FIELDS) {
            return malformed(format!("extra field {key:?} has the name of a known field"));
        }
        validate_limits(self)
    }

    /// Valid from `not_before` (inclusive) until `not_after` (exclusive): at
    /// `not_after` the license has expired, as grants are denied (M7).
    pub fn validity_at(&self, now: UnixMillis) -> Result<(), Validity> {
        if now < self.not_before {
            return Err(Validity::NotYetValid {
                not_before: self.not_before,
            });
        }
        if now >= self.not_after {
            return Err(Validity::Expired {
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

fn validate_limits(license: &License) -> Result<(), LicenseError> {
    let bad = |m: String| Err(LicenseError::MalformedLimits(m));
    if license.limits.is_empty() {
        return bad("no environment is licensed".to_owned());
    }
    for (environment, products) in &license.limits {
        if products.is_empty() {
            return bad(format!("environment {environment} licenses no product"));
        }
        for (product, limits) in products {
            if let Some(field) = zero_limit(limits) {
                return bad(format!(
                    "{environment}/{product}: {field} is 0; leave it out for unlimited, or give at least 1"
                ));
            }
            if let Some(key) = shadowing(&limits.extra, &LIMIT_FIELDS) {
                return bad(format!(
                    "{environment}/{product}: extra field {key:?} has the name of a known field"
                ));
            }
        }
    }
    Ok(())
}

fn zero_limit(limits: &Limits) -> Option<&'static str> {
    [
        ("max_servers", limits.max_servers),
        ("max_cores_per_server", limits.max_cores_per_server),
        ("max_total_cores", limits.max_total_cores),
    ]
    .into_iter()
    .find_map(|(field, value)| (value == Some(0)).then_some(field))
}

/// An extra field named like a known one would be written twice into the JSON,
/// and the payload would then not parse back.
fn shadowing<'a>(extra: &'a Extra, known: &[&str]) -> Option<&'a str> {
    extra.keys().map(String::as_str).find(|k| known.contains(k))
}
