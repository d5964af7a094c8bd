//! The payload bytes <-> `License`. A parse failure is sorted into `Malformed`
//! or `MalformedLimits` so an operator knows where to look.

use super::error::LicenseError;
use super::payload::{License, Limits};
use crate::names::Name;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

type LimitsMap = BTreeMap<Name, BTreeMap<Name, Limits>>;

impl License {
    /// The bytes `sign` signs: pretty JSON, so a vendor can read the payload of
    /// a license with nothing more than a base64 decoder.
    pub fn to_payload_bytes(&self) -> Result<Vec<u8>, LicenseError> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| LicenseError::Malformed(format!("cannot serialise the license: {e}")))
    }

    /// Parses and validates payload bytes. Signature checks are not done here.
    pub fn from_payload_bytes(bytes: &[u8]) -> Result<Self, LicenseError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| LicenseError::Malformed(format!("the payload is not JSON: {e}")))?;
        // serde keeps the last of two equal keys in a map; a signed document
        // must not say two things, so any repeated key is refused.
        serde_json::from_slice::<UniqueKeys>(bytes)
            .map_err(|e| LicenseError::Malformed(e.to_string()))?;
        // Checked on its own first: a bad environment name or a negative limit
        // would otherwise surface as a generic error about the whole payload.
        if let Some(limits) = value.get("limits") {
            LimitsMap::deserialize(limits)
                .map_err(|e| LicenseError::MalformedLimits(e.to_string()))?;
        }
        let license: License =
            serde_json::from_value(value).map_err(|e| LicenseError::Malformed(e.to_string()))?;
        license.validate()?;
        Ok(license)
    }
}

/// Walks any JSON value and fails on an object with a repeated key.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if seen.contains(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            seen.insert(key);
        }
        Ok(self)
    }
}
