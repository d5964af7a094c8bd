//! A fresh database per case on the shared PostgreSQL or MariaDB (dropped on
//! drop), and a private PostgreSQL cluster for the case that restarts it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MariaDb,
}

#[derive(Debug)]
pub struct Database {
    pub kind: Kind,
    pub name: String,
    /// For a private cluster: its port.
    port: u16,
}

pub(super) fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// psql as the superuser on loopback `port`, in database `db`, stopping at
/// the first error.
fn psql_in(port: u16, db: &str) -> Command {
    let mut c = Command::new("psql");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-v", "ON_ERROR_STOP=1", "-d", db]);
    c
}

fn psql(port: u16, sql: &str) -> Result<(), String> {
    run(psql_in(port, "postgres").args(["-q", "-c", sql]))
}

fn mysql(sql: &str) -> Result<(), String> {
    run(Command::new("mysql").args(["-h", "127.0.0.1", "-P", "3306", "-uroot", "-e", sql]))
}

impl Database {
    /// A fresh database on the shared server of `kind`; `Err` if it is not reachable.
    pub fn create(kind: Kind) -> Result<Self, String> {
        let name = unique("tenure_ha");
        match kind {
            Kind::Postgres => psql(5432, &format!("CREATE DATABASE {name}"))?,
            Kind::MariaDb => mysql(&format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))?,
        }
        Ok(Self {
            kind,
            name,
            port: match kind {
                Kind::Postgres => 5432,
                Kind::MariaDb => 3306,
            },
        })
    }

    /// A fresh database on a private PostgreSQL cluster.
    pub fn create_on(pg: &PrivatePg) -> Result<Self, String> {
        let name = unique("tenure_ha");
        psql(pg.port, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            kind: Kind::Postgres,
            name,
            port: pg.port,
        })
    }

    /// Runs `sql` in this database (PostgreSQL only), as an operator would.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        match self.kind {
            Kind::Postgres => run(psql_in(self.port, &self.name).args(["-q", "-c", sql])),
            Kind::MariaDb => Err("execute: PostgreSQL only".into()),
        }
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/{}", self.port, self.name),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{}/{}", self.port, self.name),
        }
    }

    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "PostgreSQL",
            Kind::MariaDb => "MariaDB",
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = match self.kind {
            Kind::Postgres => psql(
                self.port,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ),
            Kind::MariaDb => mysql(&format!("DROP DATABASE IF EXISTS {}", self.name)),
        };
    }
}

/// A throw-away PostgreSQL cluster owned by the `postgres` user, so that the
/// shared server other tests use is never stopped (as storage/tests/diesel_outage.rs).
/// Started with `fsync=off`: the tests kill processes, never the host, and a
/// killed process loses nothing the kernel already has.
#[derive(Debug)]
pub struct PrivatePg {
    pub(super) bin: PathBuf,
    pub(super) dir: PathBuf,
    pub port: u16,
    /// Environment of the server processes, e.g. libfaketime.
    pub(super) env: Vec<(String, String)>,
}

pub(super) fn as_postgres(program: &Path, args: &[&str]) -> Result<(), String> {
    as_postgres_with(program, args, &[])
}

/// `runuser -u postgres -- [env K=V...] program args...`
fn as_postgres_with(program: &Path, args: &[&str], env: &[(String, String)]) -> Result<(), String> {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]);
    if !env.is_empty() {
        cmd.arg("env")
            .args(env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    run(cmd.arg(program).args(args))
}

use tenure_testkit::pg_bin;

/// `key = 'value'` for postgresql.conf.
fn setting_line(key: &str, value: &str) -> String {
    format!("{key} = '{}'\n", value.replace('\'', "''"))
}

impl PrivatePg {
    /// initdb and start.
    pub fn create() -> Result<Self, String> {
        let pg = Self::init(&[])?;
        pg.start()?;
        Ok(pg)
    }

    /// An empty directory owned by `postgres` and a free port; no cluster yet.
    pub(super) fn empty() -> Result<Self, String> {
        let bin = pg_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = std::env::temp_dir().join(unique("tenure-ha-pg"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))?;
        Ok(Self {
            bin,
            dir,
            port: super::free_port(),
            env: Vec::new(),
        })
    }

    /// initdb (trust authentication, also for replication from loopback),
    /// with `settings` added to postgresql.conf; not started.
    pub fn init(settings: &[(&str, &str)]) -> Result<Self, String> {
        let pg = Self::empty()?;
        as_postgres(
            &pg.bin.join("initdb"),
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        pg.configure(settings)?;
        Ok(pg)
    }

    pub(super) fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Adds `settings` at the end of postgresql.conf (a later line wins).
    pub fn configure(&self, settings: &[(&str, &str)]) -> Result<(), String> {
        use std::io::Write;
        if settings.is_empty() {
            return Ok(());
        }
        let path = self.dir.join("data").join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text: String = settings.iter().map(|(k, v)| setting_line(k, v)).collect();
        f.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        as_postgres_with(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            &self.env,
        )
    }

    pub fn stop_immediate(&self) -> Result<(), String> {
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
    }

    /// One SQL statement through psql; its output, unaligned and without headers.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let out = psql_in(self.port, "postgres")
            .args(["-qtA", "-c", sql])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql -p {} -c {sql:?}: {}",
                self.port,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// The server's log so far (its tail).
    pub fn log(&self) -> String {
        super::tail(&self.dir.join("log"), 4000)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
