//! Local ports for the servers a test starts.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

/// A port on 127.0.0.1 that was free a moment ago. Another process may take
/// it before the caller binds it; a server that can bind port 0 and say its
/// address (see [`listening_addr`]) has no such race.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port on 127.0.0.1")
}

/// Reads `out` (a child's stdout or stderr) up to its first line holding
/// `listening on ` and returns the address after it, with any `scheme://`
/// dropped. The rest of `out` is drained on a thread so the child never
/// blocks on a full pipe; `echo` gets every line read, for the test's log.
pub fn listening_addr(
    out: impl Read + Send + 'static,
    within: Duration,
    echo: impl Fn(&str) + Send + 'static,
) -> Result<SocketAddr, String> {
    let url = listening_url(out, within, echo)?;
    parse_listening(&format!("listening on {url}"))
        .ok_or_else(|| format!("no address in the listening URL {url:?}"))
}

/// As [`listening_addr`], but the URL as printed (`http://127.0.0.1:4100`),
/// for a test that checks the scheme or talks to the server by URL.
pub fn listening_url(
    out: impl Read + Send + 'static,
    within: Duration,
    echo: impl Fn(&str) + Send + 'static,
) -> Result<String, String> {
    let (found, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            echo(&line);
            if let Some(url) = url_of(&line)
                && let Some(tx) = found.take()
            {
                let _ = tx.send(url);
            }
        }
    });
    wait.recv_timeout(within)
        .map_err(|_| format!("no \"listening on\" line within {within:?}"))
}

/// The URL (or bare address) of a `listening on` line.
fn url_of(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on ")?;
    parse_listening(line)?;
    Some(
        rest.split_whitespace()
            .next()?
            .trim_end_matches('/')
            .to_owned(),
    )
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    rest.split_whitespace()
        .next()?
        .trim_end_matches('/')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_of_a_listening_line() {
        assert_eq!(
            parse_listening("tenure-service listening on https://127.0.0.1:4100"),
            "127.0.0.1:4100".parse().ok()
        );
        assert_eq!(
            parse_listening("listening on 127.0.0.1:9 (h2)"),
            "127.0.0.1:9".parse().ok()
        );
        assert_eq!(parse_listening("starting"), None);
    }

    #[test]
    fn the_url_of_a_listening_line() {
        assert_eq!(
            url_of("tenured listening on https://127.0.0.1:4100/").as_deref(),
            Some("https://127.0.0.1:4100")
        );
        assert_eq!(url_of("listening on nowhere"), None);
        let text = "boot\ntenured listening on http://127.0.0.1:5000\n";
        let url = listening_url(std::io::Cursor::new(text), Duration::from_secs(5), |_| {});
        assert_eq!(url.as_deref(), Ok("http://127.0.0.1:5000"));
    }

    #[test]
    fn reads_the_address_from_a_stream() {
        let text = "boot\nx listening on http://127.0.0.1:5000\nmore\n";
        let addr = listening_addr(std::io::Cursor::new(text), Duration::from_secs(5), |_| {});
        assert_eq!(addr, "127.0.0.1:5000".parse().map_err(|_| String::new()));
    }
}
