//! SIGTERM during a burst of renewals: the server drains and exits 0,
//! every answered request got a whole answer, and every acknowledged renewal
//! is in storage when the manager comes back.

mod real_server;

use real_server::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenure_testkit::free_port;

const GRANT: &str = r#"{"product":"vdp","hostname":"HOST","port":9999,"cores":2}"#;

#[test]
fn sigterm_drains_and_loses_no_acknowledged_renewal() {
    let setup = Setup::new(3600, 100);
    let port = free_port();
    let mut server = Server::start(&setup, port, &["--drain-timeout", "10s"]);
    let mut ids = Vec::new();
    for i in 0..16 {
        let (status, body) = http(
            &server.url,
            "POST",
            "/v1/grants",
            None,
            Some(&GRANT.replace("HOST", &format!("h{i}"))),
        )
        .expect("grant");
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("grant json");
        ids.push(v["grant_id"].as_str().expect("id").to_owned());
    }
    // grant id -> storage time of its last acknowledged renewal
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let torn = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for id in ids.clone() {
        let (url, acked, torn, stop) = (
            server.url.clone(),
            acked.clone(),
            torn.clone(),
            stop.clone(),
        );
        workers.push(std::thread::spawn(move || {
            for _ in 0..2000 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                // Refused connections and 503s after the listener closed are fine.
                if let Some((200, body)) =
                    http(&url, "POST", &format!("/v1/grants/{id}/renew"), None, None)
                {
                    match serde_json::from_str::<serde_json::Value>(&body) {
                        Ok(v) => {
                            let t = v["server_time_ms"].as_i64().unwrap_or(0);
                            let mut a = acked.lock().expect("lock");
                            let e = a.entry(id.clone()).or_insert(0);
                            *e = (*e).max(t);
                        }
                        Err(_) => torn.store(true, Ordering::SeqCst),
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let code =
        wait_exit(&mut server.child, Duration::from_secs(15)).expect("tenured exits after SIGTERM");
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(code, 0, "clean exit after the drain");
    assert!(
        !torn.load(Ordering::SeqCst),
        "a 200 arrived with a torn body"
    );
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 8,
        "too few renewals acknowledged before SIGTERM: {}",
        acked.len()
    );
    let url = format!("sqlite://{}", setup.path("tenure.db").display());
    let store = tenure_storage::DieselStore::connect(&url, tenure_storage::StoreOptions::default())
        .expect("open db");
    let managers =
        tenure_storage::Store::transaction(&store, &mut |tx| tx.managers()).expect("managers");
    assert!(
        managers.is_empty(),
        "a drained manager deregisters: {managers:?}"
    );
    drop(store);
    let again = Server::start(&setup, port, &[]);
    let (_, body) = again.admin("GET", "/v1/grants");
    let grants: Vec<serde_json::Value> = serde_json::from_str(&body).expect("grants");
    let stored: BTreeMap<String, i64> = grants
        .iter()
        .map(|g| {
            (
                g["grant_id"].as_str().unwrap_or("").to_owned(),
                g["last_renewed_ms"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    for (id, t) in &acked {
        let s = stored.get(id).copied().unwrap_or(0);
        assert!(
            s >= *t,
            "renewal of {id} acknowledged at {t} but storage has {s}"
        );
    }
}
