//! PLACEHOLDER until the license work lands: RFC 3339 text <-> UnixMillis.
pub mod serde_millis {
    use crate::time::UnixMillis;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(t: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixMillis, D::Error> {
        Ok(UnixMillis(i64::deserialize(d)?))
    }
}
