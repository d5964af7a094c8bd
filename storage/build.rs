//! Re-embed the migrations when any of them changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
