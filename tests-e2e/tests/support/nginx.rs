//! nginx running `docs/ha/nginx.conf` itself, as a child process in the
//! foreground. nginx does not expand environment variables in its
//! configuration, so the file's five `${TENURE_...}` placeholders are
//! rendered here (what `envsubst` does in production, and the result is
//! compared with envsubst's when it is installed) into a temp dir, and a
//! minimal main configuration there (what a distribution's
//! /etc/nginx/nginx.conf gives in production: events, temp paths) includes it.

use super::{note, tail, wait_until, workspace_dir};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `fail_timeout` the test uses (production 10s, in the file's comments).
pub const FAIL_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest nginx skips a failed primary: its upstream clock counts whole
/// seconds and a peer stays skipped while `now - checked <= fail_timeout`, so
/// a failure late in one second is skipped until `fail_timeout` + 1 s after.
pub const SKIPPED_AT_MOST: Duration = Duration::from_secs(FAIL_TIMEOUT.as_secs() + 1);

/// The placeholders of docs/ha/nginx.conf, all of which must be given.
pub const PLACEHOLDERS: [&str; 5] = [
    "TENURE_LB_ADDR",
    "TENURE_PRIMARY_ADDR",
    "TENURE_SECONDARY_ADDR",
    "TENURE_FAIL_TIMEOUT",
    "TENURE_NGINX_LOG_DIR",
];

pub fn binary() -> Result<PathBuf, String> {
    for p in [
        "/usr/sbin/nginx",
        "/usr/bin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(p).is_file() {
            return Ok(p.into());
        }
    }
    Err("nginx is not installed (.ci/setup-services.sh installs it)".into())
}

pub fn config_path() -> PathBuf {
    workspace_dir().join("docs/ha/nginx.conf")
}

/// Replaces each `${NAME}` of `vars`; fails if a name of [`PLACEHOLDERS`] is
/// not given or any `${TENURE_...}` is left.
pub fn render(template: &str, vars: &[(&str, String)]) -> Result<String, String> {
    for name in PLACEHOLDERS {
        if !vars.iter().any(|(n, _)| *n == name) {
            return Err(format!("no value for ${{{name}}}"));
        }
    }
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    match out.find("${TENURE_") {
        Some(at) => Err(format!(
            "placeholder left after rendering: {}",
            out[at..].lines().next().unwrap_or_default()
        )),
        None => Ok(out),
    }
}

/// The same rendering by `envsubst` with the variable list the file's
/// comments give, if envsubst is installed.
fn envsubst(template: &Path, vars: &[(&str, String)]) -> Option<String> {
    let shell_format = PLACEHOLDERS
        .iter()
        .map(|n| format!("${{{n}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("envsubst")
        .arg(shell_format)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::fs::File::open(template).ok()?)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `--http-<kind>-temp-path` options nginx was built with: each needs a
/// writable directory (nginx creates it at start, as root also chowns it).
fn temp_path_directives(bin: &Path, dir: &Path) -> String {
    let v = Command::new(bin)
        .arg("-V")
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_default();
    let mut out = String::new();
    for (option, directive) in [
        ("client-body", "client_body_temp_path"),
        ("proxy", "proxy_temp_path"),
        ("fastcgi", "fastcgi_temp_path"),
        ("uwsgi", "uwsgi_temp_path"),
        ("scgi", "scgi_temp_path"),
    ] {
        // Always for the two this file uses; the others only if built in
        // (an unknown directive is an error).
        if matches!(option, "client-body" | "proxy")
            || v.contains(&format!("--http-{option}-temp-path="))
        {
            out.push_str(&format!(
                "    {directive} {};\n",
                dir.join(format!("tmp-{option}")).display()
            ));
        }
    }
    out
}

#[derive(Debug)]
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub url: String,
    /// How the rendering compared with envsubst's: for the figures.
    pub envsubst: &'static str,
}

/// One line of `tenure-access.log` (log_format tenure_lb).
#[derive(Debug, Clone)]
pub struct Access {
    pub line: String,
    pub status: u16,
    /// `$upstream_addr`: the managers tried, in order.
    pub upstreams: Vec<String>,
    /// `$upstream_status`, in the same order.
    pub upstream_statuses: Vec<String>,
}

fn quoted<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_once(&format!("{key}=\""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(v, _)| v)
}

fn list(s: &str) -> Vec<String> {
    s.split([',', ':'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Access {
    fn parse(line: &str) -> Option<Self> {
        let after_request = line.splitn(3, '"').nth(2)?;
        let status = after_request.split_whitespace().next()?.parse().ok()?;
        // "127.0.0.1:1, 127.0.0.1:2" (":" also separates upstream groups).
        let upstreams = quoted(line, "upstream")
            .split([',', ' '])
            .filter(|p| !p.is_empty() && *p != ":")
            .map(str::to_owned)
            .collect();
        Some(Self {
            line: line.to_owned(),
            status,
            upstreams,
            upstream_statuses: list(quoted(line, "upstream_status")),
        })
    }
}

impl Nginx {
    pub fn start(bin: &Path, primary: SocketAddr, secondary: SocketAddr) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-nginx-")
            .tempdir()
            .expect("temp dir");
        // As root nginx's workers run as `nobody`: let them reach the temp paths.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod the nginx temp dir");
        }
        let port = super::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let vars = [
            ("TENURE_LB_ADDR", addr.to_string()),
            ("TENURE_PRIMARY_ADDR", primary.to_string()),
            ("TENURE_SECONDARY_ADDR", secondary.to_string()),
            (
                "TENURE_FAIL_TIMEOUT",
                format!("{}s", FAIL_TIMEOUT.as_secs()),
            ),
            ("TENURE_NGINX_LOG_DIR", dir.path().display().to_string()),
        ];
        let template = std::fs::read_to_string(config_path())
            .unwrap_or_else(|e| panic!("read {}: {e}", config_path().display()));
        let rendered = render(&template, &vars).unwrap_or_else(|e| panic!("{e}"));
        let envsubst = match envsubst(&config_path(), &vars) {
            Some(other) if other == rendered => "envsubst gives the same text",
            Some(other) => {
                panic!("envsubst renders docs/ha/nginx.conf differently from the test:\n{other}")
            }
            None => "envsubst not installed, not compared",
        };
        let conf_d = dir.path().join("tenure.conf");
        std::fs::write(&conf_d, rendered).expect("write tenure.conf");
        let main = dir.path().join("nginx.conf");
        std::fs::write(
            &main,
            format!(
                "# Written by tests-e2e/tests/support/nginx.rs: the process-wide part\n\
                 # (a distribution's /etc/nginx/nginx.conf in production).\n\
                 worker_processes 1;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n\
                 {temps}\
                 \x20   access_log off;\n\
                 \x20   include {conf_d};\n\
                 }}\n",
                temps = temp_path_directives(bin, dir.path()),
                conf_d = conf_d.display()
            ),
        )
        .expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main)
            .arg("-g")
            .arg(format!(
                "daemon off; master_process on; pid {}; error_log stderr notice;",
                dir.path().join("nginx.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("nginx.out")).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("nginx.err")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nginx: {e}"));
        let mut me = Self {
            child,
            dir,
            addr,
            url: format!("http://{addr}"),
            envsubst,
        };
        let up = wait_until(Duration::from_secs(10), || {
            matches!(me.child.try_wait(), Ok(None)) && std::net::TcpStream::connect(addr).is_ok()
        });
        if !up {
            let status = me.child.try_wait();
            panic!("nginx did not start ({status:?}):\n{}", me.log());
        }
        me
    }

    /// Every line of `tenure-access.log` so far.
    pub fn access(&self) -> Vec<Access> {
        std::fs::read_to_string(self.dir.path().join("tenure-access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(Access::parse)
            .collect()
    }

    pub fn log(&self) -> String {
        format!(
            "{}{}\n-- tenure-access.log:\n{}",
            tail(&self.dir.path().join("nginx.out"), 2000),
            tail(&self.dir.path().join("nginx.err"), 4000),
            tail(&self.dir.path().join("tenure-access.log"), 3000)
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0)),
            nix::sys::signal::Signal::SIGTERM,
        );
        let stopped = wait_until(Duration::from_secs(5), || {
            !matches!(self.child.try_wait(), Ok(None))
        });
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            note(&format!("---- nginx log:\n{}\n----", self.log()));
        }
    }
}
