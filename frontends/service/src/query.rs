//! The one query parameter the API takes: `GET /v1/usage?since=RFC3339`.

use tenure_core::{UnixMillis, rfc3339};

/// `%XX` decoding; `+` is a literal plus (RFC 3339 offsets), not a space.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            // from_str_radix would accept a sign ("%+1"): two hex digits only.
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `since` from the query (default: the epoch, i.e. all history).
pub fn usage_since(query: Option<&str>) -> Result<UnixMillis, String> {
    let Some(q) = query else {
        return Ok(UnixMillis(0));
    };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "since" {
            let v = percent_decode(v).ok_or("`since` is not valid percent-encoded text")?;
            return rfc3339::parse(&v).map_err(|e| {
                format!("`since` must be an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}")
            });
        }
    }
    Ok(UnixMillis(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_parses_plain_and_encoded() {
        assert_eq!(usage_since(None), Ok(UnixMillis(0)));
        assert_eq!(usage_since(Some("x=1")), Ok(UnixMillis(0)));
        assert_eq!(
            usage_since(Some("since=1970-01-01T00:00:01Z")),
            Ok(UnixMillis(1000))
        );
        assert_eq!(
            usage_since(Some("since=1970-01-01T01%3A00%3A00%2B01%3A00")),
            Ok(UnixMillis(0))
        );
        assert!(usage_since(Some("since=yesterday")).is_err());
        assert!(usage_since(Some("since=%zz")).is_err());
        assert!(usage_since(Some("since=%+1")).is_err());
    }
}
