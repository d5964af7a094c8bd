//! Test helper for the durability test (M4): grants fresh instances against
//! `DATABASE_URL` (first argument) in a loop and prints each grant id on
//! stdout only after its transaction committed. The test SIGKILLs it and
//! checks that every printed id is in the database.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use tenure_core::license::{License, Limits};
use tenure_core::manager::{ManagerConfig, grant};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{DieselStore, Store, StoreOptions};

fn name(s: &str) -> Result<Name, String> {
    Name::parse("name", s).map_err(|e| e.to_string())
}

fn unlimited_license() -> Result<License, String> {
    let mut products = BTreeMap::new();
    products.insert(
        name("kill")?,
        Limits {
            max_servers: None,
            max_cores_per_server: None,
            max_total_cores: None,
            extra: BTreeMap::new(),
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(name("prod")?, products);
    Ok(License {
        license_id: "lic-kill-test".into(),
        licensee: "Test Co".into(),
        issued_at: UnixMillis(0),
        not_before: UnixMillis(0),
        not_after: UnixMillis(253_402_300_799_000),
        max_managers: 1,
        grace_period_s: 3_600,
        limits,
        extra: BTreeMap::new(),
    })
}

fn run(url: &str) -> Result<(), String> {
    let store = DieselStore::connect(url, StoreOptions::default()).map_err(|e| e.to_string())?;
    let license = unlimited_license()?;
    let cfg = ManagerConfig::default();
    let pid = std::process::id();
    let mut stdout = std::io::stdout().lock();
    for n in 0u64.. {
        let req = GrantRequest {
            instance: Instance {
                environment: name("prod")?,
                product: name("kill")?,
                hostname: Hostname::parse(&format!("host{n}")).map_err(|e| e.to_string())?,
                port: 1,
            },
            facts: HostFacts {
                cores: 1,
                ip: None,
                version: None,
            },
            client_time: None,
        };
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&pid.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let id = GrantId::from_random(bytes);
        let outcome = store
            .transaction(&mut |tx| {
                let now = tx.now()?;
                tx.lock_pool(&req.instance.pool())?;
                let view = tx.pool_view(&req.instance, now, 16)?;
                let d = grant(&cfg, &license, &view, &req, now, id);
                for m in &d.mutations {
                    tx.apply(m)?;
                }
                Ok(d.outcome)
            })
            .map_err(|e| e.to_string())?;
        match outcome {
            // Committed: only now may it be acknowledged.
            Ok(resp) => writeln!(stdout, "{}", resp.grant_id)
                .and_then(|()| stdout.flush())
                .map_err(|e| e.to_string())?,
            Err(denial) => return Err(format!("denied: {denial:?}")),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: tenure-grant-loop DATABASE_URL");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenure-grant-loop: {e}");
            ExitCode::FAILURE
        }
    }
}
