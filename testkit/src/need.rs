//! The services a test may need, and a cheap probe for each: cheap because
//! every need of every listed trial is probed once before any trial runs.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Long enough for a loaded machine's local server, short enough that a
/// missing one costs the run little.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// Something outside the test binary that a test cannot run without.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// The shared PostgreSQL server of [`postgres_url`].
    Postgres,
    /// The shared MariaDB / MySQL server of [`mysql_url`].
    MariaDb,
    /// A program on `PATH`.
    Program(&'static str),
    /// A binary of this workspace, built in the test's own target folder.
    Built(&'static str),
    /// libfaketime's preload library.
    LibFaketime,
    /// `initdb` and `pg_ctl`, for private PostgreSQL clusters.
    PgServerBinaries,
    /// Anything else: a name and a probe that says why it is missing.
    Other(&'static str, fn() -> Result<(), String>),
}

impl Need {
    /// What is needed, as the reports name it.
    pub fn name(&self) -> String {
        match self {
            Need::Postgres => "PostgreSQL".into(),
            Need::MariaDb => "MariaDB/MySQL".into(),
            Need::Program(p) => (*p).into(),
            Need::Built(b) => format!("the `{b}` binary"),
            Need::LibFaketime => "libfaketime".into(),
            Need::PgServerBinaries => "PostgreSQL server binaries".into(),
            Need::Other(name, _) => (*name).into(),
        }
    }

    /// `Err(why)` when the need is not met.
    pub fn probe(&self) -> Result<(), String> {
        match self {
            Need::Postgres => reachable(&postgres_url()),
            Need::MariaDb => reachable(&mysql_url()),
            Need::Program(p) => program(p).map(drop),
            Need::Built(b) => built(b).map(drop),
            Need::LibFaketime => libfaketime().map(drop),
            Need::PgServerBinaries => pg_bin()
                .map(drop)
                .ok_or_else(|| "no initdb and pg_ctl under /usr/lib/postgresql".into()),
            Need::Other(_, probe) => probe(),
        }
    }
}

/// Server URL (no database) of the shared PostgreSQL.
pub fn postgres_url() -> String {
    std::env::var("TENURE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Server URL (no database) of the shared MariaDB / MySQL.
pub fn mysql_url() -> String {
    std::env::var("TENURE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The `host:port` of a server URL such as `postgres://user@host:port/db`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

/// A TCP connect only: the tests log in themselves and fail loudly if the
/// server answers but refuses them, which is a broken set-up, not a
/// missing one.
fn reachable(url: &str) -> Result<(), String> {
    let at = authority(url);
    let addrs = at
        .to_socket_addrs()
        .map_err(|e| format!("{at} (from {url}): {e}"))?;
    let mut last = format!("{at} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// The path of `name` on `PATH`.
pub fn program(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} is not on PATH"))
}

/// The path of the workspace binary `name` built beside the running test
/// (tests run from `<target>/<profile>/deps`) or in `$CARGO_TARGET_DIR/debug`.
/// `cargo test --workspace` builds every binary before any test runs; a
/// test of one package alone may find them missing.
pub fn built(name: &str) -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(profile) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
    {
        candidates.push(profile.join(name));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(Path::new(&dir).join("debug").join(name));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "not found at {candidates:?}; build it first with `cargo build --workspace --bins`"
            )
        })
}

/// libfaketime's preload library.
pub fn libfaketime() -> Result<&'static str, String> {
    LIBFAKETIME
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| "libfaketime is not installed (.ci/setup-services.sh installs it)".into())
}

/// The newest PostgreSQL server binaries installed, for private clusters.
pub fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_drops_scheme_user_and_database() {
        assert_eq!(
            authority("postgres://postgres@127.0.0.1:5432"),
            "127.0.0.1:5432"
        );
        assert_eq!(
            authority("mysql://root@127.0.0.1:3306/db"),
            "127.0.0.1:3306"
        );
        assert_eq!(authority("postgres://u:p@h:1/db?x=y"), "h:1");
        assert_eq!(authority("h:2"), "h:2");
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = crate::free_port();
        assert!(reachable(&format!("postgres://u@127.0.0.1:{port}")).is_err());
    }
}
