//! The embedded SQLite database is private to the manager's user: created
//! with mode 0600 before SQLite opens it, and its WAL and shared-memory
//! files take that mode from it.

use std::os::unix::fs::PermissionsExt;
use tenure_storage::{DieselStore, Store, StoreOptions};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn a_new_database_and_its_wal_are_0600() {
    let dir = tempfile::tempdir().expect("dir");
    // What a permissive umask would give the files, were they not made private.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let db = dir.path().join("tenure.db");
    let url = format!("sqlite://{}", db.display());
    let store = DieselStore::connect(&url, StoreOptions::default()).expect("connect");
    store.migrate().expect("migrate");
    store
        .transaction(&mut |tx| tx.managers().map(drop))
        .expect("a transaction");
    for name in ["tenure.db", "tenure.db-wal", "tenure.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
}

#[test]
fn an_existing_database_keeps_its_mode() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("old.db");
    std::fs::write(&db, b"").expect("an empty file is an empty database");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let url = format!("sqlite://{}", db.display());
    let store = DieselStore::connect(&url, StoreOptions::default()).expect("connect");
    store.migrate().expect("migrate");
    assert_eq!(mode(&db), 0o640, "the operator's choice stands");
}
