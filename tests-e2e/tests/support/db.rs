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

fn run(cmd: &mut Command) -> Result<(), String> {
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

fn psql(port: u16, sql: &str) -> Result<(), String> {
    run(Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", "postgres", "-c", sql]))
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
#[derive(Debug)]
pub struct PrivatePg {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
}

fn as_postgres(program: &Path, args: &[&str]) -> Result<(), String> {
    run(Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args))
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

impl PrivatePg {
    pub fn create() -> Result<Self, String> {
        let bin = pg_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = std::env::temp_dir().join(unique("tenure-ha-pg"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))?;
        let pg = Self {
            bin,
            dir,
            port: super::free_port(),
        };
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
        pg.start()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        as_postgres(
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
        )
    }

    pub fn stop_immediate(&self) -> Result<(), String> {
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
