//! `serve`'s settings, checked before anything is bound or opened (M11,
//! §7.1). Flags, `TENURE_*` variables and `--config` keys all end up in one
//! [`ServeArgs`]; [`Settings::check`] is the one place that refuses what
//! breaks a rule, and the only way to a [`Settings`], which is what
//! [`crate::startup::build`] and the frontends' `bind` take.

use crate::cli::ServeArgs;
use std::path::Path;
use std::time::Duration;

/// The shortest `--usage-retention`: a few days more than a day's roll-up
/// waits, so that a manager down over a weekend loses no row it has not
/// rolled up, and an operator has days to read raw rows after an incident.
pub const MIN_USAGE_RETENTION: Duration = Duration::from_secs(7 * 86_400);
use tenure_core::manager::{InvalidSetting, ManagerConfig};

/// Why `serve` refuses to start. One line each, naming the setting and how
/// to set it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{source} (set by --{flag}, {env}, or `{flag}` in the --config file)", env = crate::config_file::env_name(flag))]
    Manager {
        flag: &'static str,
        source: InvalidSetting,
    },
    #[error("{0}")]
    Listen(String),
    #[error(
        "usage_retention must be at least {} days, not {}: usage rows are pruned only once their days are rolled up (set by --usage-retention, TENURE_USAGE_RETENTION, or `usage-retention` in the --config file)",
        MIN_USAGE_RETENTION.as_secs() / 86_400,
        tenure_core::duration::format_duration(*.0)
    )]
    UsageRetention(Duration),
    #[error("{what} {path}: {reason}")]
    TokenFile {
        what: &'static str,
        path: String,
        reason: String,
    },
}

/// The flag that sets the setting `e` is about.
fn flag_of(e: &InvalidSetting) -> &'static str {
    match e {
        InvalidSetting::RenewEveryUnderOneSecond(_)
        | InvalidSetting::RenewEveryNotWholeSeconds(_) => "renew-every",
        InvalidSetting::LeaseTtlNotWholeSeconds(_)
        | InvalidSetting::LeaseTtlNotAboveRenewEvery { .. } => "lease-ttl",
        InvalidSetting::ReclaimMarginUnderMinimum(_) => "reclaim-margin",
    }
}

/// §6.2, §7.1: a token file must not be open to others. Group read is
/// allowed: the documented set-up is `root:tenure` with mode 0640, so the
/// service's group reads what only root may change. Any permission for
/// others (read, write or execute) is refused: a world-writable token file
/// lets anyone choose the admin token.
pub fn check_token_file(what: &'static str, path: &Path) -> Result<(), SettingsError> {
    use std::os::unix::fs::PermissionsExt;
    let refuse = |reason: String| SettingsError::TokenFile {
        what,
        path: path.display().to_string(),
        reason,
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| refuse(format!("cannot read it: {e}")))?
        .permissions()
        .mode();
    if mode & 0o007 != 0 {
        return Err(refuse(format!(
            "is open to others (mode {:04o}); run `chmod o-rwx {}` (0600 or 0640)",
            mode & 0o7777,
            path.display()
        )));
    }
    Ok(())
}

/// `serve`'s arguments once every start-time rule holds.
#[derive(Debug, Clone)]
pub struct Settings {
    args: ServeArgs,
    manager: ManagerConfig,
}

impl Settings {
    /// The first rule `args` break, in the order an operator would fix
    /// them: durations, the listening address, then files.
    pub fn check(args: ServeArgs) -> Result<Self, SettingsError> {
        let manager = ManagerConfig {
            lease_ttl: args.lease_ttl,
            renew_every: args.renew_every,
            reclaim_margin: args.reclaim_margin,
        };
        manager.check().map_err(|source| SettingsError::Manager {
            flag: flag_of(&source),
            source,
        })?;
        if args.usage_retention < MIN_USAGE_RETENTION {
            return Err(SettingsError::UsageRetention(args.usage_retention));
        }
        args.check_listen().map_err(SettingsError::Listen)?;
        check_token_file("admin token file", &args.admin_token_file)?;
        if let Some(path) = &args.component_token_file {
            check_token_file("component token file", path)?;
        }
        Ok(Self { args, manager })
    }

    pub fn args(&self) -> &ServeArgs {
        &self.args
    }

    /// The grant settings, checked.
    pub fn manager(&self) -> ManagerConfig {
        self.manager
    }
}

impl std::ops::Deref for Settings {
    type Target = ServeArgs;
    fn deref(&self) -> &ServeArgs {
        &self.args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::os::unix::fs::PermissionsExt;

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn token(mode: u32, name: &str) -> (Dir, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("tenure-settings-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("admin.token");
        std::fs::write(&file, "settings-test-token-0123456789\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        (Dir(dir), file)
    }

    fn serve(token: &Path, extra: &[&str]) -> ServeArgs {
        let mut argv = vec![
            "tenured".to_owned(),
            "serve".into(),
            "--vendor-key".into(),
            "v.pub".into(),
            "--admin-token-file".into(),
            token.display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| (*s).to_owned()));
        match Cli::try_parse_from(argv).expect("parse").command {
            Command::Serve(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_pass_and_give_the_manager_config() {
        let (_d, file) = token(0o600, "ok");
        let s = Settings::check(serve(&file, &[])).expect("defaults hold");
        assert_eq!(s.manager(), ManagerConfig::default());
        assert_eq!(s.listen.port(), 10091);
    }

    #[test]
    fn durations_are_refused_with_the_flag_named() {
        let (_d, file) = token(0o600, "durations");
        let refused = |extra: &[&str]| {
            Settings::check(serve(&file, extra))
                .expect_err("refused")
                .to_string()
        };
        let e = refused(&["--renew-every", "500ms"]);
        assert!(
            e.contains("at least 1 s") && e.contains("--renew-every"),
            "{e}"
        );
        assert!(e.contains("TENURE_RENEW_EVERY"), "{e}");
        let e = refused(&["--renew-every", "1500ms", "--lease-ttl", "10s"]);
        assert!(e.contains("whole seconds"), "{e}");
        let e = refused(&["--renew-every", "30s", "--lease-ttl", "30s"]);
        assert!(
            e.contains("greater than renew_every") && e.contains("--lease-ttl"),
            "{e}"
        );
        let e = refused(&["--reclaim-margin", "59s"]);
        assert!(
            e.contains("at least 60 s") && e.contains("--reclaim-margin"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn usage_retention_must_exceed_a_few_days() {
        let (_d, file) = token(0o600, "retention");
        let s = Settings::check(serve(&file, &[])).expect("default");
        assert_eq!(s.usage_retention, Duration::from_secs(400 * 86_400));
        let e = Settings::check(serve(&file, &["--usage-retention", "2d"]))
            .expect_err("too short")
            .to_string();
        assert!(
            e.contains("at least 7 days") && e.contains("--usage-retention"),
            "{e}"
        );
        assert!(Settings::check(serve(&file, &["--usage-retention", "7d"])).is_ok());
    }

    #[test]
    fn token_files_open_to_others_are_refused() {
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, true),
            (0o644, false),
            (0o602, false),
            (0o601, false),
        ] {
            let (_d, file) = token(mode, &format!("{mode:o}"));
            let got = Settings::check(serve(&file, &[]));
            assert_eq!(got.is_ok(), ok, "mode {mode:o}: {got:?}");
            if let Err(e) = got {
                let e = e.to_string();
                assert!(e.contains("open to others") && e.contains("chmod"), "{e}");
                assert!(e.contains(&format!("{mode:04o}")), "{e}");
            }
        }
        let missing = Settings::check(serve(Path::new("/nonexistent/admin.token"), &[]))
            .expect_err("missing file");
        assert!(missing.to_string().contains("cannot read it"), "{missing}");
    }

    #[test]
    fn plaintext_off_loopback_is_refused_before_files() {
        let (_d, file) = token(0o600, "listen");
        let e = Settings::check(serve(&file, &["--listen", "0.0.0.0:1"])).expect_err("plain");
        assert!(matches!(e, SettingsError::Listen(_)), "{e:?}");
    }
}
