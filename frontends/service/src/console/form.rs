//! Form fields from a query string, an `application/x-www-form-urlencoded`
//! body or a `multipart/form-data` body (the license upload). Bodies are
//! already bounded by the frontend (16 KiB).

use std::collections::BTreeMap;

/// Named fields; a repeated name keeps its first value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field's value, trimmed, or `None` when missing or blank.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn put(&mut self, name: String, value: String) {
        self.0.entry(name).or_insert(value);
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Form decoding: `+` is a space and `%XX` a byte. Bad escapes are kept as
/// written; bytes that are not UTF-8 are replaced.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` (a query string or a urlencoded body).
pub fn urlencoded(s: &str) -> Fields {
    let mut f = Fields::default();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        f.put(decode(k), decode(v));
    }
    f
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<&str> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// The `name` of a part from its `Content-Disposition: form-data; name="x"`.
fn part_name(head: &str) -> Option<String> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The fields of a `multipart/form-data` body (RFC 7578). `None` when the
/// content type has no boundary or the body does not follow it.
pub fn multipart(content_type: &str, body: &[u8]) -> Option<Fields> {
    let delimiter = format!("--{}", boundary(content_type)?);
    let delim = delimiter.as_bytes();
    let mut fields = Fields::default();
    let mut at = find(body, delim, 0)? + delim.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(fields);
        }
        // After a delimiter: CRLF, the part's headers, a blank line, content.
        let start = at + 2;
        let head_end = find(body, b"\r\n\r\n", start)?;
        let head = String::from_utf8_lossy(body.get(start..head_end)?);
        let content_start = head_end + 4;
        let next = find(body, &[b"\r\n", delim].concat(), content_start)?;
        if let Some(name) = part_name(&head) {
            let content = String::from_utf8_lossy(&body[content_start..next]).into_owned();
            fields.put(name, content);
        }
        at = next + 2 + delim.len();
    }
}

/// The fields of a POST body of either form encoding.
pub fn body(content_type: Option<&str>, body: &[u8]) -> Option<Fields> {
    let ct = content_type.unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(urlencoded(&String::from_utf8_lossy(body)))
    } else if mime.eq_ignore_ascii_case("multipart/form-data") {
        multipart(ct, body)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_fields() {
        let f = urlencoded("a=1+2&b=%3Cx%3E&c&a=second&d=%zz&e=%4");
        assert_eq!(f.get("a"), Some("1 2"));
        assert_eq!(f.get("b"), Some("<x>"));
        assert_eq!(f.get("c"), Some(""));
        assert_eq!(f.value("c"), None);
        assert_eq!(f.get("d"), Some("%zz"));
        assert_eq!(f.get("e"), Some("%4"));
        assert_eq!(urlencoded("x=%41").get("x"), Some("A"));
    }

    #[test]
    fn multipart_fields() {
        let sent = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"license_file\"; filename=\"l.lic\"\r\n\
Content-Type: application/octet-stream\r\n\r\nline1\r\nline2\r\n\r\n--XyZ--\r\n";
        let f = body_fields(sent);
        assert_eq!(f.get("csrf"), Some("abc"));
        assert_eq!(f.get("license_file"), Some("line1\r\nline2\r\n"));
        assert!(multipart("multipart/form-data", sent).is_none());
        assert!(multipart("multipart/form-data; boundary=XyZ", b"garbage").is_none());
        assert!(
            multipart(
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"
            )
            .is_none()
        );
        assert!(body(Some("text/plain"), b"a=1").is_none());
        assert_eq!(
            body(Some("application/x-www-form-urlencoded"), b"a=1")
                .and_then(|f| f.get("a").map(str::to_owned))
                .as_deref(),
            Some("1")
        );
    }

    fn body_fields(b: &[u8]) -> Fields {
        body(Some("multipart/form-data; boundary=\"XyZ\""), b).expect("parses")
    }
}
