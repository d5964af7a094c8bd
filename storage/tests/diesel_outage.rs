//! A PostgreSQL outage during renewals: calls fail fast with `Unavailable`
//! (no panic, no hang), and the same store recovers once the server is back.
//! Runs a private PostgreSQL (initdb in a temp dir, free port) so that the
//! shared server other tests use is never stopped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{grant_once, id, license, limits, pg_bin, request};
use tenure_core::GrantId;
use tenure_core::license::License;
use tenure_core::manager::{Denial, ManagerConfig, renew};
use tenure_core::wire::GrantResponse;
use tenure_storage::{DieselStore, StorageError, StorageErrorKind, Store, StoreOptions};
use tenure_testkit::trial;
use tenure_testkit::{Need, Unavailable, unavailable};

/// A throw-away PostgreSQL cluster owned by the `postgres` user.
struct PrivatePg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .map_err(|e| format!("runuser {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl PrivatePg {
    fn create() -> Result<PrivatePg, String> {
        let bin = pg_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = std::env::temp_dir().join(format!("tenure-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !chown.success() {
            return Err("chown to postgres failed (not root?)".into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let pg = PrivatePg { bin, dir, port };
        let data = pg.data();
        as_postgres(
            &pg.bin.join("initdb"),
            &[
                "-D",
                &data,
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

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) -> Result<(), String> {
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

    fn stop_immediate(&self) -> Result<(), String> {
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

fn renew_once(
    store: &DieselStore,
    lic: &License,
    grant_id: GrantId,
) -> Result<Result<GrantResponse, Denial>, StorageError> {
    let cfg = ManagerConfig::default();
    store.transaction(&mut |tx| {
        let now = tx.now()?;
        let held = tx.grant(grant_id)?;
        let ended = match held {
            Some(_) => None,
            None => tx.ended(grant_id)?,
        };
        let d = renew(&cfg, lic, held.as_ref(), ended.as_ref(), None, now);
        for m in &d.mutations {
            tx.apply(m)?;
        }
        Ok(d.outcome)
    })
}

fn postgres_outage_is_unavailable_then_recovers() -> Result<(), Unavailable> {
    let pg = PrivatePg::create().map_err(|e| unavailable("a private PostgreSQL instance", e))?;
    let opts = StoreOptions {
        pool_size: 2,
        connect_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    };
    let store = DieselStore::connect(&pg.url(), opts).expect("connect");
    store.migrate().expect("migrate");
    let lic = license(&[("prod", "vdp", limits(Some(5), None, None))], 3_600);
    let gid = id(1);
    grant_once(&store, &lic, &request("prod", "vdp", "h", 1, 2), gid)
        .expect("storage")
        .expect("granted");
    for _ in 0..5 {
        renew_once(&store, &lic, gid)
            .expect("storage")
            .expect("renewed");
    }

    pg.stop_immediate().expect("stop the private PostgreSQL");
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let t = Instant::now();
        let r = renew_once(&store, &lic, gid);
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert!(
            matches!(&r, Err(e) if e.kind() == StorageErrorKind::Unavailable),
            "renewal during the outage: {r:?}"
        );
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }

    pg.start().expect("restart the private PostgreSQL");
    let t = Instant::now();
    let recovered = loop {
        match renew_once(&store, &lic, gid) {
            Ok(outcome) => break outcome,
            Err(e)
                if e.kind() == StorageErrorKind::Unavailable
                    && t.elapsed() < Duration::from_secs(30) =>
            {
                eprintln!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("no recovery after {:?}: {e}", t.elapsed()),
        }
    };
    let recovery = t.elapsed();
    assert!(
        recovered.is_ok(),
        "the grant survived the outage: {recovered:?}"
    );
    for _ in 0..5 {
        renew_once(&store, &lic, gid)
            .expect("storage")
            .expect("renewed");
    }
    // A restart while the store is idle: every pooled connection is dead,
    // and the pool does not test them on checkout. The first call after
    // the restart finds that at BEGIN and runs on a new connection.
    let busy = std::thread::scope(|s| {
        let worker = s.spawn(|| renew_once(&store, &lic, gid));
        renew_once(&store, &lic, gid).and(worker.join().expect("no panic"))
    });
    busy.expect("storage").expect("renewed");
    pg.stop_immediate().expect("stop the private PostgreSQL");
    pg.start().expect("restart the private PostgreSQL");
    renew_once(&store, &lic, gid)
        .expect("the first call after an idle restart succeeds")
        .expect("renewed");
    println!(
        "PostgreSQL outage: each call failed Unavailable in at most {slowest:?}; \
         the same store recovered {recovery:?} after restart"
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![trial(
        "postgres_outage_is_unavailable_then_recovers",
        &[Need::PgServerBinaries],
        postgres_outage_is_unavailable_then_recovers,
    )])
}
