use super::args::KeygenArgs;
use anyhow::{Context, bail};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use tenure_core::license::SecretKey;

pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    // Checked up front so a refusal leaves neither file half made.
    for path in [&args.secret_key, &args.public_key] {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            );
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("cannot read random bytes: {e}"))?;
    let secret = SecretKey::from_seed(seed);
    seed.fill(0);
    write_new(&args.secret_key, secret.to_armoured().as_bytes(), 0o600)?;
    write_new(
        &args.public_key,
        secret.verifying_key().to_armoured().as_bytes(),
        0o644,
    )?;
    println!(
        "key id {}: secret key {} (keep it offline), public key {}",
        secret.key_id(),
        args.secret_key.display(),
        args.public_key.display()
    );
    Ok(())
}

/// `create_new` makes the no-overwrite promise hold even against a race.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
