//! Files that hold secrets (`tenured demo`'s key and tokens), created private
//! from their first instant: a folder only its owner may enter, and files
//! made with `O_CREAT | O_EXCL` and mode 0600. There is no window between
//! creating and restricting a file in which another user could open it, and
//! no existing name is ever written through: `O_EXCL` fails on any file
//! already there, a symbolic link (dangling or not) included, so a link
//! planted in the folder cannot redirect a secret elsewhere.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why a private folder or file could not be made. One line each.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a folder of its own (a symbolic link or a file is in the way); remove it or choose another"
    )]
    NotAFolder { path: String },
    #[error(
        "{path} is open to other users (mode {mode:04o}); run `chmod 700 {path}`, or remove it to start afresh"
    )]
    OpenFolder { path: String, mode: u32 },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PrivateFileError + '_ {
    move |source| PrivateFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Makes `dir` (and any missing parents) with mode 0700, or checks that the
/// existing `dir` is a real folder no other user may read, write or enter.
pub fn private_dir(dir: &Path) -> Result<(), PrivateFileError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir)),
        Err(e) => Err(io(dir)(e)),
        Ok(meta) if !meta.file_type().is_dir() => Err(PrivateFileError::NotAFolder {
            path: dir.display().to_string(),
        }),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(PrivateFileError::OpenFolder {
                    path: dir.display().to_string(),
                    mode,
                });
            }
            Ok(())
        }
    }
}

/// Creates `path`, which must not exist, with mode 0600 and `text`.
pub fn create_private(path: &Path, text: &str) -> Result<(), PrivateFileError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("meta")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn folders_and_files_are_private_from_the_start() {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("a/b");
        private_dir(&dir).expect("made");
        assert_eq!(mode(&dir), 0o700);
        private_dir(&dir).expect("an existing private folder is fine");
        let file = dir.join("secret");
        create_private(&file, "s").expect("file");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "s");
        // Never written twice: the existing file stays as it was.
        assert!(create_private(&file, "t").is_err());
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "s");
    }

    #[test]
    fn symbolic_links_are_never_followed() {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("demo");
        private_dir(&dir).expect("made");
        let target = root.path().join("elsewhere");
        let link = dir.join("tokens");
        std::os::unix::fs::symlink(&target, &link).expect("dangling link");
        assert!(create_private(&link, "secret").is_err());
        assert!(!target.exists(), "the secret went through the link");
        let linked_dir = root.path().join("linked");
        std::os::unix::fs::symlink(&dir, &linked_dir).expect("link to a folder");
        assert!(matches!(
            private_dir(&linked_dir),
            Err(PrivateFileError::NotAFolder { .. })
        ));
    }

    #[test]
    fn a_folder_open_to_others_is_refused() {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("open");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = private_dir(&dir).expect_err("open");
        assert!(e.to_string().contains("0755") && e.to_string().contains("chmod 700"));
    }
}
