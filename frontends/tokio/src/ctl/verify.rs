use super::args::VerifyArgs;
use super::summary;
use anyhow::Context;
use tenure_core::license::{self, VerifyingKey};

/// Exit 1 with the reason when the license is damaged, forged, signed by an
/// untrusted key, expired or not yet valid.
pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for path in &args.public_keys {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        keys.push(
            VerifyingKey::from_armoured(&text).with_context(|| format!("{}", path.display()))?,
        );
    }
    let text = std::fs::read_to_string(&args.license)
        .with_context(|| format!("cannot read {}", args.license.display()))?;
    let verified = license::verify(&text, &keys)
        .with_context(|| format!("{} is not a valid license", args.license.display()))?;
    verified
        .license()
        .validity_at(super::wall_now())
        .with_context(|| format!("{} is not in force", args.license.display()))?;
    println!("valid: signed by vendor key {}", verified.key_id());
    print!("{}", summary::license(verified.license()));
    Ok(())
}
