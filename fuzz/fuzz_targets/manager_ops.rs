//! Manager decisions over arbitrary operation sequences, run twice: through
//! `tenure_storage::Manager` on the memory store (transactions, the storage
//! clock, pool views with a bounded reclaim), and through the pure decisions
//! `tenure_core::manager::{grant, renew, release, revoke, admin_release,
//! reclaim}` applied to a plain map of held grants (the reference store
//! `tenure_testkit::models::manager::Applied`, which core/tests shares).
//!
//! Asserts after every operation: both give the same outcome (success or the
//! same error code); they hold the same grants at `now`; the held grants fit
//! every limit of their pool (I1, M1) and no instance holds two (M3); nothing
//! held is past its deadline after a sweep; a denial names a limit that binds.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tenure_core::license::{License, Limits, SecretKey, VerifyingKey, sign};
use tenure_core::manager::{self as decide, Denial, HeldGrant, ManagerConfig, PoolView};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_core::{ErrorCode, GrantId, UnixMillis};
use tenure_storage::{
    BatchTx, InstallPolicy, Manager, ManagerError, MemoryStore, StorageError, Store, StoredLicense,
};
use tenure_testkit::models::manager::{Applied, check_denial, check_held};

const T0: i64 = 1_800_000_000_000;
const ENVS: [&str; 2] = ["production", "staging"];
const PRODUCTS: [&str; 2] = ["vdp", "sched"];

#[derive(Debug, Arbitrary)]
enum Op {
    Grant {
        env: u8,
        product: u8,
        host: u8,
        port: u8,
        cores: u8,
        client_time: Option<i64>,
    },
    Renew(u8, Option<i64>),
    /// Renew an id that was never granted.
    RenewUnknown(u64),
    Release(u8),
    Revoke(u8),
    AdminRelease {
        env: u8,
        product: u8,
        host: u8,
        port: u8,
    },
    Advance(u32),
    AdvanceLong(u16),
    Sweep,
}

#[derive(Debug)]
struct Setup {
    license: License,
}

fn opt(u: &mut Unstructured<'_>, max: u64) -> arbitrary::Result<Option<u64>> {
    Ok(if u.ratio(1, 4)? {
        None
    } else {
        Some(u.int_in_range(1..=max)?)
    })
}

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut map: BTreeMap<Name, BTreeMap<Name, Limits>> = BTreeMap::new();
        for i in 0..4 {
            if i == 0 || bool::arbitrary(u)? {
                let l = Limits {
                    max_servers: opt(u, 5)?,
                    max_cores_per_server: opt(u, 16)?,
                    max_total_cores: opt(u, 40)?,
                    extra: BTreeMap::new(),
                };
                map.entry(name(ENVS[i / 2]))
                    .or_default()
                    .insert(name(PRODUCTS[i % 2]), l);
            }
        }
        // A license that may expire (or start) within the sequence (M7).
        let not_before = T0 - i64::from(u.int_in_range(0u32..=3_600_000)?) + 1_800_000;
        let not_after = T0 + i64::from(u.int_in_range(1u32..=u32::MAX)?);
        Ok(Setup {
            license: License {
                license_id: "lic-fuzz".into(),
                licensee: "Fuzz".into(),
                issued_at: UnixMillis(T0),
                not_before: UnixMillis(not_before),
                not_after: UnixMillis(not_after.max(not_before)),
                max_managers: 1,
                grace_period_s: u.int_in_range(1..=7200)?,
                limits: map,
                extra: BTreeMap::new(),
            },
        })
    }
}

fn name(s: &str) -> Name {
    Name::parse("t", s).expect("name")
}

fn instance(env: u8, product: u8, host: u8, port: u8) -> Instance {
    Instance {
        environment: name(ENVS[usize::from(env) % 2]),
        product: name(PRODUCTS[usize::from(product) % 2]),
        hostname: Hostname::parse(&format!("host{}", host % 6)).expect("host"),
        port: u16::from(port % 2) + 1,
    }
}

fn id(n: u64) -> GrantId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    GrantId::from_random(b)
}

fn key() -> &'static (SecretKey, [VerifyingKey; 1]) {
    static K: std::sync::OnceLock<(SecretKey, [VerifyingKey; 1])> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let k = SecretKey::from_seed([9; 32]);
        let v = k.verifying_key();
        (k, [v])
    })
}

/// A store whose backing memory store is replaced for every execution, so a
/// `Manager` (and the license it verified) can serve many executions.
#[derive(Clone)]
struct Slot(Arc<Mutex<MemoryStore>>);

impl Store for Slot {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let store = self.0.lock().expect("slot").clone();
        store.transaction(f)
    }
}

/// One manager per distinct license, kept across executions. Signing the
/// license and verifying it (on install, and again on the manager's first
/// load) cost ~80% of an execution when done for every input. A kept manager
/// only re-verifies when the stored license's (id, issued_at) changes, and
/// each one only ever sees its own license, so what it decides is what a
/// fresh one would. The license is written to the store as
/// `install_license` writes it to an empty store (checked once, in
/// `install_writes`), so a new license costs one signature and the manager's
/// own verification on first load.
struct Kept {
    slot: Slot,
    mgr: Manager<Slot>,
    stored: StoredLicense,
}

const KEPT_MAX: usize = 16_384;

thread_local! {
    static KEPT: RefCell<HashMap<Vec<u8>, Rc<Kept>>> = RefCell::new(HashMap::new());
}

/// What `install_license(text)` of a license signed by `sign` writes to an
/// empty store whose clock reads `T0`.
fn install_writes(lic: &License, text: &str) -> StoredLicense {
    StoredLicense {
        license_id: lic.license_id.clone(),
        issued_at: lic.issued_at,
        armoured: text.to_owned(),
        installed_at: UnixMillis(T0),
    }
}

/// Checks `install_writes` against `install_license`, once.
fn check_install_writes() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let (secret, trusted) = key();
        let lic = License {
            license_id: "lic-fuzz".into(),
            licensee: "Fuzz".into(),
            issued_at: UnixMillis(T0),
            not_before: UnixMillis(T0),
            not_after: UnixMillis(T0 + 1000),
            max_managers: 1,
            grace_period_s: 60,
            limits: BTreeMap::from([(
                name(ENVS[0]),
                BTreeMap::from([(
                    name(PRODUCTS[0]),
                    Limits {
                        max_servers: Some(1),
                        max_cores_per_server: None,
                        max_total_cores: None,
                        extra: BTreeMap::new(),
                    },
                )]),
            )]),
            extra: BTreeMap::new(),
        };
        let text = sign(&lic, secret).expect("sign");
        let store = MemoryStore::new(Arc::new(|| UnixMillis(T0)));
        let mgr = Manager::new(store.clone(), ManagerConfig::default(), trusted.to_vec());
        mgr.install_license(&text, InstallPolicy::IfNewer)
            .expect("install");
        let got = store.transaction(&mut |tx| tx.license()).expect("read");
        assert_eq!(got, Some(install_writes(&lic, &text)));
    });
}

/// The manager for `lic` on a fresh memory store with `clock`, the license
/// stored as `install_license(sign(lic))` leaves it.
fn manager_for(lic: &License, cfg: &ManagerConfig, clock: &Arc<AtomicI64>) -> Rc<Kept> {
    check_install_writes();
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let payload = lic.to_payload_bytes().expect("serialises");
    let kept = KEPT.with(|m| m.borrow().get(&payload).cloned());
    let kept = match kept {
        Some(k) => {
            *k.slot.0.lock().expect("slot") = store.clone();
            k
        }
        None => {
            let (secret, trusted) = key();
            let slot = Slot(Arc::new(Mutex::new(store.clone())));
            let mgr = Manager::new(slot.clone(), cfg.clone(), trusted.to_vec());
            let text = sign(lic, secret).expect("sign");
            let k = Rc::new(Kept {
                slot,
                mgr,
                stored: install_writes(lic, &text),
            });
            KEPT.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() >= KEPT_MAX {
                    m.clear();
                }
                m.insert(payload, k.clone());
            });
            k
        }
    };
    store
        .transaction(&mut |tx| {
            let installed_at = tx.now()?;
            tx.put_license(&StoredLicense {
                installed_at,
                ..kept.stored.clone()
            })
        })
        .expect("store the license");
    kept
}

fn code<T>(r: &Result<T, ManagerError>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code())
}

fn model_code<T>(r: &Result<T, Denial>) -> Option<ErrorCode> {
    r.as_ref().err().map(|d| d.code())
}

fuzz_target!(|input: (Setup, Vec<Op>)| {
    let (setup, ops) = input;
    let lic = setup.license;
    let clock = Arc::new(AtomicI64::new(T0));
    let cfg = ManagerConfig::default();
    let kept = manager_for(&lic, &cfg, &clock);
    let mgr = &kept.mgr;

    let mut model = Applied::default();
    let mut granted: Vec<GrantId> = Vec::new();
    let mut next = 1u64;
    for op in ops.into_iter().take(128) {
        let now = UnixMillis(clock.load(Ordering::SeqCst));
        match op {
            Op::Grant {
                env,
                product,
                host,
                port,
                cores,
                client_time,
            } => {
                let req = GrantRequest {
                    instance: instance(env, product, host, port),
                    facts: HostFacts {
                        cores: u32::from(cores % 20) + 1,
                        ip: None,
                        version: None,
                    },
                    client_time: client_time.map(UnixMillis),
                };
                let gid = id(next);
                next += 1;
                let got = mgr.grant(&req, *gid.as_bytes());
                let pool: Vec<_> = model
                    .held
                    .values()
                    .filter(|g| g.instance.pool() == req.instance.pool())
                    .cloned()
                    .collect();
                let view = PoolView::from_grants(&pool, &req.instance, now);
                let d = decide::grant(&cfg, &lic, &view, &req, now, gid);
                assert_eq!(code(&got), model_code(&d.outcome), "grant {req:?}");
                if let Err(denial) = &d.outcome {
                    check_denial(denial, &lic, &model, &req, now).expect("no spurious denial");
                }
                if let (Ok(a), Ok(b)) = (&got, &d.outcome) {
                    assert_eq!(a, b);
                    granted.push(gid);
                }
                model.apply(&d.mutations);
            }
            Op::Renew(k, client) => {
                let Some(&gid) = granted.get(usize::from(k) % granted.len().max(1)) else {
                    continue;
                };
                let client = client.map(UnixMillis);
                let got = mgr.renew(gid, client);
                let d = decide::renew(
                    &cfg,
                    &lic,
                    model.held.get(&gid),
                    model.usage_of(gid),
                    client,
                    now,
                );
                // The store may still hold an expired grant the model already
                // reclaimed (bounded reclaim per decision): both say unknown.
                assert_eq!(code(&got), model_code(&d.outcome), "renew");
                model.apply(&d.mutations);
            }
            Op::RenewUnknown(n) => {
                let gid = id(n | (1 << 63));
                let got = mgr.renew(gid, None);
                assert_eq!(code(&got), Some(ErrorCode::UnknownGrant));
            }
            Op::Release(k) | Op::Revoke(k) => {
                let Some(&gid) = granted.get(usize::from(k) % granted.len().max(1)) else {
                    continue;
                };
                let is_release = matches!(op, Op::Release(_));
                let got = if is_release {
                    mgr.release(gid)
                } else {
                    mgr.revoke(gid)
                };
                let held = model.held.get(&gid);
                let d = if is_release {
                    decide::release(held, now)
                } else {
                    decide::revoke(held, now)
                };
                assert_eq!(code(&got), model_code(&d.outcome), "release/revoke");
                model.apply(&d.mutations);
            }
            Op::AdminRelease {
                env,
                product,
                host,
                port,
            } => {
                let i = instance(env, product, host, port);
                let got = mgr.admin_release(&i);
                let held = model.by_instance(&i).cloned();
                let d = decide::admin_release(held.as_ref(), now);
                assert_eq!(code(&got), model_code(&d.outcome), "admin release");
                assert_eq!(d.outcome.is_ok(), held.is_some_and(|g| g.is_held_at(now)));
                model.apply(&d.mutations);
            }
            Op::Advance(ms) => {
                clock.fetch_add(i64::from(ms % 600_000), Ordering::SeqCst);
            }
            Op::AdvanceLong(s) => {
                clock.fetch_add(i64::from(s) * 1000, Ordering::SeqCst);
            }
            Op::Sweep => {
                mgr.sweep(1000).expect("sweep");
                let ms = decide::reclaim(model.held.values(), now);
                model.apply(&ms);
                assert!(model.held.values().all(|g| g.is_held_at(now)));
                let left = mgr
                    .read(|tx, now| Ok(tx.expired(now, 10)?.len()))
                    .expect("read");
                assert_eq!(left, 0, "sweep left expired grants");
            }
        }
        let now = UnixMillis(clock.load(Ordering::SeqCst));
        check_held(&lic, &model, now).expect("held grants keep I1, M1 and M3");
        let mut store_held: Vec<HeldGrant> = mgr
            .read(|tx, now| {
                Ok(tx
                    .held_grants()?
                    .into_iter()
                    .filter(|g| g.is_held_at(now))
                    .collect())
            })
            .expect("read");
        store_held.sort_by_key(|g| g.grant_id);
        let model_held: Vec<HeldGrant> = model
            .held
            .values()
            .filter(|g| g.is_held_at(now))
            .cloned()
            .collect();
        assert_eq!(
            store_held, model_held,
            "store and model hold different grants"
        );
    }
});
