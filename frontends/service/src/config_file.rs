//! `--config FILE`: flags of `serve` from a TOML file. A key is a flag's
//! long name (`listen = "0.0.0.0:10091"`, `vendor-key = ["a.pub", "b.pub"]`,
//! `allow-plaintext = true`). Precedence: the command line, then `TENURE_*`
//! environment variables, then the file. A key that is no flag of `serve`
//! is refused (§7.1): a misspelt `renew_every` must not leave the default in
//! force unnoticed. The values then go through the same parsing and the same
//! start-time checks as flags (`crate::settings`).

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable of flag `key` (`renew-every`: `TENURE_RENEW_EVERY`).
pub(crate) fn env_name(key: &str) -> String {
    format!("TENURE_{}", key.replace('-', "_").to_ascii_uppercase())
}

fn given_on_command_line(args: &[OsString], key: &str) -> bool {
    let flag = format!("--{key}");
    let with_eq = format!("--{key}=");
    args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&with_eq)
    })
}

/// Where `--config` (or `TENURE_CONFIG`) points, if anywhere.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("TENURE_CONFIG").map(PathBuf::from)
}

/// Returns `args` with the file's flags appended where neither the command
/// line nor the environment set them. Only `serve` reads a config file:
/// `TENURE_CONFIG` in the environment of `tenured migrate` is left alone.
pub fn merge(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    if args.get(1).is_none_or(|a| a != "serve") {
        return Ok(args);
    }
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
    let known = crate::cli::Cli::serve_flags();
    let mut out = args;
    for (key, value) in table {
        if key == "config" || !known.contains(&key) {
            return Err(format!(
                "config file {}: unknown key `{key}` (keys are the long flag names of `tenured serve`, e.g. `renew-every`)",
                path.display()
            ));
        }
        if given_on_command_line(&out, &key) || std::env::var_os(env_name(&key)).is_some() {
            continue;
        }
        let flag = OsString::from(format!("--{key}"));
        let scalar = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                other => Err(format!(
                    "config key `{key}` has an unsupported value {other:?}"
                )),
            }
        };
        match &value {
            toml::Value::Boolean(true) => out.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    out.push(flag.clone());
                    out.push(OsString::from(scalar(item)?));
                }
            }
            v => {
                out.push(flag);
                out.push(OsString::from(scalar(v)?));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_fills_what_the_command_line_leaves_out() {
        let dir = std::env::temp_dir().join(format!("tenure-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("tenured.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:20000\"\nvendor-key = [\"a.pub\", \"b.pub\"]\nadmin-token-file = \"t\"\nrenew-every = \"60s\"\nmax-inflight = 32\nallow-plaintext = true\n",
        )
        .expect("write");
        let args = os(&[
            "tenured",
            "serve",
            "--config",
            &file.to_string_lossy(),
            "--renew-every",
            "30s",
        ]);
        let merged = merge(args).expect("merge");
        let Command::Serve(a) = Cli::try_parse_from(merged).expect("parse").command else {
            panic!("serve")
        };
        assert_eq!(a.listen.port(), 20000);
        assert_eq!(a.vendor_keys.len(), 2);
        assert_eq!(
            a.renew_every,
            std::time::Duration::from_secs(30),
            "command line wins"
        );
        assert_eq!(a.max_inflight, 32);
        assert!(a.allow_plaintext);
        std::fs::write(&file, "listen = [").expect("write");
        let bad = merge(os(&[
            "tenured",
            "serve",
            "--config",
            &file.to_string_lossy(),
        ]));
        assert!(bad.expect_err("invalid toml").contains("not valid TOML"));
        for unknown in ["renew_every = \"60s\"\n", "config = \"other.toml\"\n"] {
            std::fs::write(&file, unknown).expect("write");
            let e = merge(os(&[
                "tenured",
                "serve",
                "--config",
                &file.to_string_lossy(),
            ]))
            .expect_err("unknown key");
            assert!(
                e.contains("unknown key") && e.contains("renew-every"),
                "{e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
        }
        // Only `serve` reads it: other subcommands pass through untouched.
        let migrate = os(&["tenured", "migrate", "--config", &file.to_string_lossy()]);
        assert_eq!(merge(migrate.clone()), Ok(migrate));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_serve_flag_is_a_key() {
        let flags = Cli::serve_flags();
        for k in [
            "renew-every",
            "lease-ttl",
            "reclaim-margin",
            "admin-token-file",
            "listen",
        ] {
            assert!(flags.iter().any(|f| f == k), "{k} in {flags:?}");
        }
    }
}
