//! A PostgreSQL primary and a streaming standby with synchronous replication,
//! on private ports and data directories, as operators run them: a commit is
//! acknowledged only once the standby has it (`synchronous_commit = on`,
//! `synchronous_standby_names` naming the standby), the managers reach both
//! through one multi-host URL with `target_session_attrs=read-write`, and a
//! failover is "the primary dies (SIGKILL of all its processes), the standby is
//! promoted".
//!
//! The standby's own `synchronous_standby_names` is empty: once promoted it
//! has no standby of its own, and with the primary's setting it would wait
//! for one on every commit (forever).

use super::db::PrivatePg;
use super::wait_until;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid};
use std::time::Duration;

/// The standby's `application_name`, which the primary's
/// `synchronous_standby_names` names.
pub const STANDBY_NAME: &str = "tenure_standby";

#[derive(Debug)]
pub struct Replicated {
    pub primary: PrivatePg,
    pub standby: PrivatePg,
}

impl Replicated {
    /// Starts both and waits until the standby is the primary's synchronous
    /// standby. `standby_env` is the environment of the standby's server
    /// processes (libfaketime for a host whose clock is off).
    pub fn start(standby_env: Vec<(String, String)>) -> Result<Self, String> {
        let primary = PrivatePg::init(&[
            ("wal_level", "replica"),
            ("max_wal_senders", "4"),
            ("synchronous_commit", "on"),
            ("synchronous_standby_names", STANDBY_NAME),
        ])?;
        primary.start()?;
        let mut standby = PrivatePg::empty()?;
        super::db::as_postgres(
            &standby.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.data(),
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-w",
            ],
        )?;
        standby.configure(&[
            (
                "primary_conninfo",
                &format!(
                    "host=127.0.0.1 port={} user=postgres application_name={STANDBY_NAME}",
                    primary.port
                ),
            ),
            ("hot_standby", "on"),
            // Once promoted it has no standby: it must not wait for one.
            ("synchronous_standby_names", ""),
        ])?;
        let signal = standby.dir.join("data").join("standby.signal");
        std::fs::write(&signal, "").map_err(|e| format!("{}: {e}", signal.display()))?;
        super::db::run(
            std::process::Command::new("chown")
                .arg("postgres:postgres")
                .arg(&signal),
        )?;
        standby.env = standby_env;
        standby.start()?;
        let me = Self { primary, standby };
        let sql = format!(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
        );
        let synced = wait_until(Duration::from_secs(30), || {
            me.primary.query(&sql).is_ok_and(|s| s == "sync")
        });
        if !synced {
            return Err(format!(
                "the standby never became the synchronous standby ({:?}):\n{}",
                me.primary.query(&sql),
                me.standby.log()
            ));
        }
        Ok(me)
    }

    /// The URL the managers get: both hosts, the writable one wins.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
            self.primary.port, self.standby.port
        )
    }

    /// A database on the primary (replicated like everything else).
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.primary
            .query(&format!("CREATE DATABASE {name}"))
            .map(|_| ())
    }

    /// Promotes the standby and waits until it takes writes.
    pub fn promote(&self) -> Result<(), String> {
        super::db::as_postgres(
            &self.standby.bin.join("pg_ctl"),
            &["-D", &self.standby.data(), "-w", "-t", "30", "promote"],
        )?;
        if wait_until(Duration::from_secs(30), || {
            self.standby
                .query("SELECT pg_is_in_recovery()")
                .is_ok_and(|s| s == "f")
        }) {
            Ok(())
        } else {
            Err(format!(
                "the standby still recovers after promotion:\n{}",
                self.standby.log()
            ))
        }
    }
}

impl PrivatePg {
    /// The postmaster and every process it started die at once, as when
    /// its host fails: SIGKILL to its process group (pg_ctl starts it in a
    /// session of its own). Its leftover SysV shared memory is removed.
    pub fn kill(&self) -> Result<(), String> {
        let pidfile = self.dir.join("data").join("postmaster.pid");
        let text =
            std::fs::read_to_string(&pidfile).map_err(|e| format!("{}: {e}", pidfile.display()))?;
        let mut lines = text.lines();
        let pid: i32 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| format!("no pid in {}", pidfile.display()))?;
        let shmid = text
            .lines()
            .nth(6)
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned));
        let postmaster = Pid::from_raw(pid);
        if getpgid(Some(postmaster)).is_ok_and(|g| g == postmaster) {
            killpg(postmaster, Signal::SIGKILL).map_err(|e| format!("killpg {pid}: {e}"))?;
        } else {
            let children = children_of(pid);
            kill(postmaster, Signal::SIGKILL).map_err(|e| format!("kill {pid}: {e}"))?;
            for c in children {
                let _ = kill(Pid::from_raw(c), Signal::SIGKILL);
            }
        }
        let gone = wait_until(Duration::from_secs(10), || {
            !super::agents::pid_alive(pid) && children_of(pid).is_empty()
        });
        if let Some(id) = shmid {
            let _ = std::process::Command::new("ipcrm")
                .args(["-m", &id])
                .output();
        }
        if gone {
            Ok(())
        } else {
            Err(format!("postmaster {pid} survived SIGKILL"))
        }
    }
}

/// Live processes whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let (_, rest) = s.rsplit_once(") ")?;
                    let mut f = rest.split_whitespace();
                    let state = f.next()?;
                    let ppid: i32 = f.next()?.parse().ok()?;
                    Some(ppid == pid && state != "Z")
                })
                .unwrap_or(false)
        })
        .collect()
}
