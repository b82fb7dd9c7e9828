//! A directory files are served from: one that exists at start-up, or one that is
//! expected to appear later (Django creates `MEDIA_ROOT` at the first upload).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::cache::REVALIDATE_AFTER;
use crate::StaticError;

/// A directory files are served from, optionally under a sub-prefix of the mount (as
/// Django's `STATICFILES_DIRS` entries `("vendor", "/path")` are).
#[derive(Debug, Clone)]
pub struct Directory {
    root: Root,
    /// `""` or `"vendor/"`.
    prefix: String,
}

#[derive(Debug, Clone)]
enum Root {
    /// Canonical: symlinks resolved, so that "inside" can be checked by prefix.
    Open(PathBuf),
    /// Not there yet when the mount was set up. Shared between clones, so that it is
    /// looked for, and found, once.
    Expected(Arc<Expected>),
}

#[derive(Debug)]
struct Expected {
    /// Absolute but not canonical: the symlinks in it may not resolve yet.
    path: PathBuf,
    /// Canonical, from the first look that found a readable directory; kept from then
    /// on, as an open directory's root is.
    found: OnceLock<PathBuf>,
    /// When the disk was last looked at for it: requests in between are 404 without a
    /// syscall.
    looked: Mutex<Instant>,
}

impl Directory {
    /// A directory that must exist now, and be readable.
    ///
    /// ```
    /// use hurricane_static::{Directory, StaticError};
    ///
    /// let src = Directory::open("src")?;
    /// assert!(src.root().is_absolute());
    ///
    /// assert!(matches!(Directory::open("Cargo.toml"), Err(StaticError::NotADirectory(_))));
    /// assert!(matches!(Directory::open("no-such-dir"), Err(StaticError::Directory { .. })));
    /// # Ok::<(), StaticError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StaticError> {
        Ok(Self::at(Root::Open(canonical_directory(path.as_ref())?)))
    }

    /// A directory that may not exist yet, such as an upload directory on a fresh
    /// deployment. While it does not, its files are 404; once it appears (looked for at
    /// most once per [`REVALIDATE_AFTER`], when requests come), it is canonicalised and
    /// served like an [`open`](Self::open) one. A path that exists but is not a
    /// directory, or cannot be read, is an error now, as with `open`.
    ///
    /// ```
    /// use hurricane_static::{CacheControl, Directory, Mount, StaticFiles};
    ///
    /// let uploads = std::env::temp_dir().join(format!("uploads-{}", std::process::id()));
    /// let directory = Directory::expected(&uploads)?;
    /// assert!(directory.is_waiting());
    /// assert_eq!(directory.root(), uploads);
    /// let media = Mount::new("/media/", vec![directory])?.cache_control(CacheControl::NoCache);
    /// let files = StaticFiles::new(vec![media]);
    ///
    /// assert!(Directory::expected("Cargo.toml").is_err());
    /// # Ok::<(), hurricane_static::StaticError>(())
    /// ```
    pub fn expected(path: impl AsRef<Path>) -> Result<Self, StaticError> {
        let path = path.as_ref();
        match canonical_directory(path) {
            Ok(root) => Ok(Self::at(Root::Open(root))),
            Err(StaticError::Directory { error, .. })
                if error.kind() == io::ErrorKind::NotFound =>
            {
                let path = std::path::absolute(path).map_err(|error| StaticError::Directory {
                    path: path.to_owned(),
                    error,
                })?;
                Ok(Self::at(Root::Expected(Arc::new(Expected {
                    path,
                    found: OnceLock::new(),
                    looked: Mutex::new(Instant::now()),
                }))))
            }
            Err(error) => Err(error),
        }
    }

    fn at(root: Root) -> Self {
        Self {
            root,
            prefix: String::new(),
        }
    }

    /// Serves this directory's files under `prefix/` within the mount.
    ///
    /// ```
    /// use hurricane_static::{Directory, Mount, StaticFiles};
    ///
    /// // `src/lib.rs` answers `/static/code/lib.rs`; `/static/lib.rs` is 404.
    /// let code = Directory::open("src")?.under("code");
    /// let files = StaticFiles::new(vec![Mount::new("/static/", vec![code])?]);
    ///
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let status = |path: &str| -> Result<u16, http::Error> {
    ///     let request = http::Request::get(path).body(())?;
    ///     Ok(runtime.block_on(files.serve(&request)).map_or(0, |r| r.status().as_u16()))
    /// };
    /// assert_eq!(status("/static/code/lib.rs")?, 200);
    /// assert_eq!(status("/static/lib.rs")?, 404);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn under(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        self.prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        self
    }

    /// The canonical path files are served from; for an [`expected`](Self::expected)
    /// directory that has not appeared yet, the absolute path it is expected at.
    pub fn root(&self) -> &Path {
        match &self.root {
            Root::Open(root) => root,
            Root::Expected(expected) => expected.found.get().unwrap_or(&expected.path),
        }
    }

    /// Whether this is an [`expected`](Self::expected) directory that was not there the
    /// last time it was looked for.
    pub fn is_waiting(&self) -> bool {
        matches!(&self.root, Root::Expected(expected) if expected.found.get().is_none())
    }

    /// The part of `path` (below the mount) that names a file in this directory.
    pub(crate) fn relative<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(self.prefix.as_str())
    }

    /// The canonical root to serve from now; `None` while an expected directory is not
    /// there. Blocking: may look on disk.
    pub(crate) fn root_now(&self) -> Option<&Path> {
        match &self.root {
            Root::Open(root) => Some(root),
            Root::Expected(expected) => expected.root_now(),
        }
    }
}

impl Expected {
    fn root_now(&self) -> Option<&Path> {
        if let Some(root) = self.found.get() {
            return Some(root);
        }
        if !self.time_to_look() {
            return None;
        }
        match canonical_directory(&self.path) {
            Ok(root) => {
                let root = self.found.get_or_init(|| root);
                tracing::info!(path = %self.path.display(), root = %root.display(),
                    "{} now exists: serving its files", self.path.display());
                Some(root)
            }
            Err(error) => {
                tracing::debug!(path = %self.path.display(), %error, "still waiting for a directory");
                None
            }
        }
    }

    /// Whether [`REVALIDATE_AFTER`] has passed since the last look; if so, this caller
    /// looks, and concurrent ones do not.
    fn time_to_look(&self) -> bool {
        let mut looked = self.looked.lock().unwrap_or_else(|p| p.into_inner());
        if looked.elapsed() < REVALIDATE_AFTER {
            return false;
        }
        *looked = Instant::now();
        true
    }
}

/// `path` with its symlinks resolved, if it is a directory whose entries can be read.
/// Blocking.
fn canonical_directory(path: &Path) -> Result<PathBuf, StaticError> {
    let unreadable = |error| StaticError::Directory {
        path: path.to_owned(),
        error,
    };
    let root = std::fs::canonicalize(path).map_err(unreadable)?;
    if !root.is_dir() {
        return Err(StaticError::NotADirectory(path.to_owned()));
    }
    // Canonicalising needs no permission on the directory itself; without read
    // permission every request under the mount would be a silent 404.
    std::fs::read_dir(&root).map_err(unreadable)?;
    Ok(root)
}

/// The canonical path of `candidate` if it exists and stays inside `root` once
/// symlinks are resolved. Blocking.
pub(crate) fn resolve(root: &Path, candidate: &Path) -> io::Result<Option<PathBuf>> {
    match std::fs::canonicalize(candidate) {
        Ok(path) if path.starts_with(root) => Ok(Some(path)),
        Ok(outside) => {
            tracing::debug!(requested = %candidate.display(), resolved = %outside.display(),
                "refusing a symlink that leaves the directory");
            Ok(None)
        }
        Err(error) if is_absent(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Errors that only mean "there is no such file for us to serve".
pub(crate) fn is_absent(error: &io::Error) -> bool {
    // Linux's ENAMETOOLONG and ELOOP (a symlink loop), which have no stable ErrorKind
    // in the Rust version this workspace supports.
    const NAME_TOO_LONG: i32 = 36;
    const SYMLINK_LOOP: i32 = 40;
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::PermissionDenied
    ) || matches!(error.raw_os_error(), Some(NAME_TOO_LONG | SYMLINK_LOOP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn set_looked(directory: &Directory, when: Instant) {
        let Root::Expected(expected) = &directory.root else {
            panic!("not an expected directory: {directory:?}");
        };
        *expected.looked.lock().unwrap() = when;
    }

    #[test]
    fn a_missing_directory_names_the_cause_once_in_the_message_and_chains_nothing() {
        let error = Directory::open("no-such-directory").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no-such-directory does not exist or cannot be read: No such file or directory (os error 2)"
        );
        assert!(std::error::Error::source(&error).is_none());
    }

    #[test]
    fn an_expected_directory_is_looked_for_at_most_once_per_interval() {
        let base = std::env::temp_dir().join(format!("hurricane-expected-{}", std::process::id()));
        let path = base.join("media");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        let directory = Directory::expected(&path).unwrap();
        assert!(directory.is_waiting());
        assert_eq!(directory.root(), path);
        assert_eq!(directory.root_now(), None);

        std::fs::create_dir(&path).unwrap();
        // Looked at just now (here: in the future, so that a slow machine cannot make
        // the interval pass): the disk is not looked at again, the directory not seen.
        set_looked(&directory, Instant::now() + Duration::from_secs(3600));
        assert_eq!(directory.root_now(), None);
        assert!(directory.is_waiting());

        // Once the interval has passed it is found, canonicalised, and kept.
        set_looked(&directory, Instant::now() - 2 * REVALIDATE_AFTER);
        let canonical = std::fs::canonicalize(&path).unwrap();
        assert_eq!(directory.root_now(), Some(canonical.as_path()));
        assert!(!directory.is_waiting());
        assert_eq!(directory.root(), canonical);
        // A clone shares what was found.
        assert_eq!(directory.clone().root_now(), Some(canonical.as_path()));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_expected_path_that_exists_must_be_a_directory() {
        let file =
            std::env::temp_dir().join(format!("hurricane-expected-file-{}", std::process::id()));
        std::fs::write(&file, "not a directory\n").unwrap();
        let error = Directory::expected(&file).unwrap_err();
        assert!(matches!(error, StaticError::NotADirectory(_)), "{error:?}");
        // A missing directory below a file can never appear: also an error now.
        let error = Directory::expected(file.join("media")).unwrap_err();
        assert!(matches!(error, StaticError::Directory { .. }), "{error:?}");
        std::fs::remove_file(&file).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_that_cannot_be_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path =
            std::env::temp_dir().join(format!("hurricane-unreadable-{}", std::process::id()));
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root (CAP_DAC_READ_SEARCH) reads it anyway, and may then serve it.
        let readable = std::fs::read_dir(&path).is_ok();
        let opened = Directory::open(&path).map(|_| ());
        let expected = Directory::expected(&path).map(|_| ());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir(&path).unwrap();
        for outcome in [opened, expected] {
            if readable {
                assert!(
                    outcome.is_ok(),
                    "a directory this user can read: {outcome:?}"
                );
            } else {
                assert!(
                    matches!(outcome, Err(StaticError::Directory { .. })),
                    "{outcome:?}"
                );
            }
        }
    }

    #[test]
    fn an_expected_directory_that_exists_is_open() {
        let directory = Directory::expected(env!("CARGO_MANIFEST_DIR")).unwrap();
        assert!(!directory.is_waiting());
        let canonical = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap();
        assert_eq!(directory.root_now(), Some(canonical.as_path()));
    }
}
