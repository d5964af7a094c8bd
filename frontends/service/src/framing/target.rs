//! The request target and the `Host` header (RFC 9112 sections 3.2 and 3.3).
//! Routing uses the target's path exactly as sent: no dot segment is
//! removed and nothing is decoded, and `Host` never takes part.

use std::net::Ipv6Addr;

/// Path and query of an accepted request target.
pub type PathQuery = (String, Option<String>);

/// Bytes a path may hold besides `%HH`: RFC 3986 `pchar` and `/`.
fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

/// Whether every `%` starts a `%HH` escape and every other byte passes `ok`.
fn escaped(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if ok(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Splits `/path?query` and checks both.
fn path_and_query(s: &str) -> Result<PathQuery, &'static str> {
    let (path, query) = match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    };
    if !escaped(path, path_byte) {
        return Err("the request target's path holds a character that is not allowed");
    }
    if let Some(q) = query
        && !escaped(q, |b| path_byte(b) || b == b'?')
    {
        return Err("the request target's query holds a character that is not allowed");
    }
    Ok((path.to_owned(), query.map(str::to_owned)))
}

/// The path and query a request target names. Origin-form (`/path?query`)
/// and absolute-form (`http://host[:port]/path?query`, which a server must
/// accept) for every method; asterisk-form (`*`) for OPTIONS. Anything else
/// is refused.
pub fn parse(target: &str, method: &str) -> Result<PathQuery, &'static str> {
    if target.starts_with('/') {
        return path_and_query(target);
    }
    if target == "*" && method == "OPTIONS" {
        return Ok(("*".to_owned(), None));
    }
    let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    else {
        return Err("the request target is neither a path nor an http(s) URL");
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !host_port(authority) {
        return Err("the request target's authority is not host[:port]");
    }
    // An absolute URL with no path names the root (RFC 9112 section 3.2.2).
    if tail.starts_with('/') {
        path_and_query(tail)
    } else {
        path_and_query(&format!("/{tail}"))
    }
}

/// `host[:port]`: a DNS name or IPv4 address (letters, digits, `-._~`), or
/// an IPv6 address in brackets, and a port of 1 to 5 digits up to 65535.
pub fn host_port(s: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        (v6.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let name = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        (!host.is_empty() && host.bytes().all(name), port)
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_is_kept_as_sent() {
        assert_eq!(
            parse("/v1/grants/../license", "GET"),
            Ok(("/v1/grants/../license".into(), None))
        );
        assert_eq!(
            parse("/v1/usage?since=2026-01-01T00:00:00Z", "GET"),
            Ok((
                "/v1/usage".into(),
                Some("since=2026-01-01T00:00:00Z".into())
            ))
        );
        assert_eq!(parse("/x?", "GET"), Ok(("/x".into(), Some(String::new()))));
        assert_eq!(parse("/%70ing", "GET"), Ok(("/%70ing".into(), None)));
        for bad in ["/a#frag", "/a\"b", "/a{b}", "/%zz", "/%4", "/a\\b", "/a|b"] {
            assert!(parse(bad, "GET").is_err(), "{bad}");
        }
    }

    #[test]
    fn absolute_form_uses_only_its_path() {
        assert_eq!(
            parse("http://example.com/pingLicenseManager", "GET"),
            Ok(("/pingLicenseManager".into(), None))
        );
        assert_eq!(
            parse("https://[::1]:10091?x=1", "GET"),
            Ok(("/".into(), Some("x=1".into())))
        );
        assert_eq!(parse("http://h:8080", "GET"), Ok(("/".into(), None)));
        for bad in [
            "http://user@h/x",
            "http:///x",
            "HTTP://h/x",
            "ftp://h/x",
            "h:80",
            "x",
            "*",
        ] {
            assert!(parse(bad, "GET").is_err(), "{bad}");
        }
        assert_eq!(parse("*", "OPTIONS"), Ok(("*".into(), None)));
    }

    #[test]
    fn hosts() {
        for ok in [
            "a",
            "lm1.example.com",
            "lm1.example.com:10091",
            "127.0.0.1:1",
            "[::1]",
            "[2001:db8::1]:443",
            "x:65535",
        ] {
            assert!(host_port(ok), "{ok}");
        }
        for bad in [
            "", "a/b", "a?b", "a b", "a:", ":80", "a:65536", "a:123456", "a:-1", "a@b", "[::1",
            "[zz]", "[::1]x", "a:b", "a%41",
        ] {
            assert!(!host_port(bad), "{bad}");
        }
    }
}
