//! Private database servers whose clock a test steps: PostgreSQL and MariaDB
//! run under libfaketime, which reads their offset from a file on every
//! clock read. Their monotonic clocks stay real. Owned by the test and
//! removed when dropped, so the shared servers are never touched.

use super::pg_bin;
use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tenure_testkit::{free_port, libfaketime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MariaDb,
}

/// A database server under libfaketime.
#[derive(Debug)]
pub struct FakedServer {
    engine: Engine,
    dir: PathBuf,
    port: u16,
    /// The MariaDB server process (PostgreSQL runs under `pg_ctl`).
    child: Option<Child>,
    pg_bin: Option<PathBuf>,
    databases: u32,
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

impl FakedServer {
    /// Starts a server of `engine` with its clock at real time.
    pub fn start(engine: Engine) -> Result<Self, String> {
        let lib = libfaketime()?;
        let dir = std::env::temp_dir().join(format!(
            "tenure-faked-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut server = Self {
            engine,
            dir,
            port: free_port(),
            child: None,
            pg_bin: None,
            databases: 0,
        };
        server.set_offset_s(0)?;
        let env = [
            ("LD_PRELOAD", lib.to_owned()),
            (
                "FAKETIME_TIMESTAMP_FILE",
                server.offset_file().display().to_string(),
            ),
            ("FAKETIME_NO_CACHE", "1".to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
        ];
        match engine {
            Engine::Postgres => server.start_postgres(&env)?,
            Engine::MariaDb => server.start_mariadb(&env)?,
        }
        Ok(server)
    }

    fn offset_file(&self) -> PathBuf {
        self.dir.join("faketime")
    }

    /// Sets the server's clock `s` seconds ahead of real time (behind when
    /// negative), from its next clock read.
    pub fn set_offset_s(&self, s: i64) -> Result<(), String> {
        let file = self.offset_file();
        let tmp = self.dir.join("faketime.new");
        std::fs::write(&tmp, format!("{s:+}\n")).map_err(|e| e.to_string())?;
        // Readable by the server's user; renamed so a read never sees half.
        run(Command::new("chmod").arg("0644").arg(&tmp))?;
        std::fs::rename(&tmp, &file).map_err(|e| e.to_string())
    }

    fn start_postgres(&mut self, env: &[(&str, String)]) -> Result<(), String> {
        let bin = pg_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&self.dir))?;
        let data = self.dir.join("data").display().to_string();
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]))?;
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", "env"]);
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(bin.join("pg_ctl")).args([
            "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
        ]);
        self.pg_bin = Some(bin);
        run(&mut cmd)
    }

    fn start_mariadb(&mut self, env: &[(&str, String)]) -> Result<(), String> {
        if !Path::new("/usr/sbin/mariadbd").exists() {
            return Err("no /usr/sbin/mariadbd".into());
        }
        // mariadbd runs as mysql and writes its socket and pid file here.
        run(Command::new("chown").arg("mysql:mysql").arg(&self.dir))?;
        let data = self.dir.join("data");
        run(Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]))?;
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!(
                "--log-error={}",
                self.dir.join("err.log").display()
            ))
            .args([
                "--bind-address=127.0.0.1",
                "--user=mysql",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mariadbd: {e}"))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            match MysqlConnection::establish(&self.admin_url()) {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    return Err(format!("mariadbd did not accept connections: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn admin_url(&self) -> String {
        match self.engine {
            Engine::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
            Engine::MariaDb => format!("mysql://root@127.0.0.1:{}", self.port),
        }
    }

    /// A fresh database on this server: its URL.
    pub fn database(&mut self) -> Result<String, String> {
        self.databases += 1;
        let name = format!("tenure_faked_{}", self.databases);
        let sql = match self.engine {
            Engine::Postgres => format!("CREATE DATABASE {name}"),
            Engine::MariaDb => {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
        };
        match self.engine {
            Engine::Postgres => PgConnection::establish(&self.admin_url())
                .map_err(|e| e.to_string())?
                .batch_execute(&sql)
                .map_err(|e| e.to_string())?,
            Engine::MariaDb => MysqlConnection::establish(&self.admin_url())
                .map_err(|e| e.to_string())?
                .batch_execute(&sql)
                .map_err(|e| e.to_string())?,
        }
        Ok(match self.engine {
            Engine::Postgres => format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            Engine::MariaDb => format!("mysql://root@127.0.0.1:{}/{name}", self.port),
        })
    }
}

impl Drop for FakedServer {
    fn drop(&mut self) {
        if let Some(bin) = &self.pg_bin {
            let data = self.dir.join("data").display().to_string();
            let _ = run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("pg_ctl"))
                .args(["-D", &data, "-m", "immediate", "-w", "stop"]));
        }
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
