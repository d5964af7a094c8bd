//! Headless Chromium driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`, fantoccini as the client): chromedriver on a free
//! loopback port, a fresh profile per browser, screenshots under the target
//! directory, and a page served from another loopback origin. `steps` holds
//! what a case does in the window.

pub mod steps;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{free_port, note, wait_until, workspace_dir};

/// Chromium's flags for a headless run in a container, as root.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
];

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Chromium and chromedriver, or why there are none.
pub fn find() -> Result<(PathBuf, PathBuf), String> {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    let driver = on_path("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Ok((c, d)),
        _ => Err(
            "chromium or chromedriver is missing: install Debian's `chromium` and `chromium-driver` (.ci/setup-services.sh)"
                .into(),
        ),
    }
}

/// Starts of chromedriver tried before a case fails.
const START_ATTEMPTS: usize = 3;
/// How long one start may take to listen.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running chromedriver; killed on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
    chromium: PathBuf,
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free loopback port. The port comes from
    /// binding port 0 and closing it, so another process can take it first,
    /// and a loaded machine can keep chromedriver from listening for a long
    /// while: an exit or a silent start is retried on a new port, and the
    /// failure names chromedriver's own log.
    pub fn start(chromium: &Path, chromedriver: &Path) -> Self {
        let profile = tempfile::Builder::new()
            .prefix("tenure-chromium-")
            .tempdir()
            .expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let mut tried = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromedriver.display()));
            let mut exited = None;
            let up = wait_until(START_WAIT, || {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    return true;
                }
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            match (up, exited) {
                (true, None) => {
                    return Self {
                        child,
                        port,
                        chromium: chromium.to_path_buf(),
                        profile,
                    };
                }
                (_, Some(status)) => tried.push(format!("port {port}: exited ({status})")),
                (false, None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    tried.push(format!("port {port}: not listening after {START_WAIT:?}"));
                }
            }
        }
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log_text.lines().rev().take(20).collect();
        panic!(
            "chromedriver did not start ({}); last lines of its log:\n{}",
            tried.join("; "),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    /// A new browser window of `width` x `height`.
    pub async fn open(&self, width: u32, height: u32) -> fantoccini::Client {
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let mut options = serde_json::json!({ "binary": self.chromium, "args": args });
        // Chromium keeps a window at least 500 px wide; a phone's viewport
        // comes from device emulation instead.
        if width < 500 {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 }
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        fantoccini::ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: `<target>/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                workspace_dir().join(d)
            }
        })
        .unwrap_or_else(|| workspace_dir().join("target"));
    target.join("console-screenshots")
}

/// Saves the window as `<name>.png` and prints where.
pub async fn screenshot(client: &fantoccini::Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    note(&format!("screenshot: {}", path.display()));
    path
}

/// One HTML page served on another loopback port: another origin than the
/// console's. Stops when dropped.
#[derive(Debug)]
pub struct Origin {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Origin {
    pub fn serve(html: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(match s.try_clone() {
                    Ok(c) => c,
                    Err(_) => continue,
                });
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/"),
            stop,
            port,
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
