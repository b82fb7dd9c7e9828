//! A URL prefix served from one or more directories, and how its files are looked up.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderValue;

use crate::cache::FileCache;
use crate::content_type::content_type;
use crate::encoding::Encoding;
use crate::file::{with_suffix, Representation, StaticFile};
use crate::manifest::Manifest;
use crate::path::SafePath;
use crate::StaticError;

/// `Cache-Control` of a file whose name carries a hash of its content.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

/// How long clients may keep a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheControl {
    /// `public, max-age=N`: static files without a hash in their name.
    MaxAge(Duration),
    /// `no-cache`: clients revalidate every time (cheap, with the validators). Media,
    /// which users may replace or delete.
    NoCache,
}

impl CacheControl {
    fn header(self) -> HeaderValue {
        match self {
            Self::MaxAge(age) => {
                HeaderValue::try_from(format!("public, max-age={}", age.as_secs()))
                    .unwrap_or(HeaderValue::from_static("no-cache"))
            }
            Self::NoCache => HeaderValue::from_static("no-cache"),
        }
    }
}

/// A directory files are served from, optionally under a sub-prefix of the mount (as
/// Django's `STATICFILES_DIRS` entries `("vendor", "/path")` are).
#[derive(Debug, Clone)]
pub struct Directory {
    /// Canonical: symlinks resolved, so that "inside" can be checked by prefix.
    root: PathBuf,
    /// `""` or `"vendor/"`.
    prefix: String,
}

impl Directory {
    /// A directory that must exist now.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StaticError> {
        let path = path.as_ref();
        let root = std::fs::canonicalize(path).map_err(|source| StaticError::Directory {
            path: path.to_owned(),
            source,
        })?;
        if !root.is_dir() {
            return Err(StaticError::NotADirectory(path.to_owned()));
        }
        Ok(Self {
            root,
            prefix: String::new(),
        })
    }

    /// Serves this directory's files under `prefix/` within the mount.
    pub fn under(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        self.prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical path of `candidate` if it exists and stays inside the root once
    /// symlinks are resolved. Blocking.
    fn resolve(&self, candidate: &Path) -> io::Result<Option<PathBuf>> {
        match std::fs::canonicalize(candidate) {
            Ok(path) if path.starts_with(&self.root) => Ok(Some(path)),
            Ok(outside) => {
                tracing::debug!(requested = %candidate.display(), resolved = %outside.display(),
                    "refusing a symlink that leaves the directory");
                Ok(None)
            }
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Errors that only mean "there is no such file for us to serve".
fn is_absent(error: &io::Error) -> bool {
    // Linux's ENAMETOOLONG and ELOOP (a symlink loop), which have no stable ErrorKind
    // in the Rust version this workspace supports.
    const NAME_TOO_LONG: i32 = 36;
    const SYMLINK_LOOP: i32 = 40;
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::PermissionDenied
    ) || matches!(error.raw_os_error(), Some(NAME_TOO_LONG | SYMLINK_LOOP))
}

/// A URL prefix (`/static/`) and the directories its files come from, searched in order.
#[derive(Debug)]
pub struct Mount {
    prefix: String,
    directories: Vec<Directory>,
    cache_control: HeaderValue,
    manifest: Option<Manifest>,
    pub(crate) cache: FileCache,
}

impl Mount {
    /// Serves `directories` under the URL path `prefix`, which must start and end with
    /// `/` and not be `/` itself (that would hide the whole application).
    pub fn new(prefix: &str, directories: Vec<Directory>) -> Result<Self, StaticError> {
        if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix == "/" {
            return Err(StaticError::Prefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            directories,
            cache_control: CacheControl::MaxAge(Duration::from_secs(60)).header(),
            manifest: None,
            cache: FileCache::default(),
        })
    }

    /// `Cache-Control` of files the manifest does not list (default: one minute).
    pub fn cache_control(mut self, cache_control: CacheControl) -> Self {
        self.cache_control = cache_control.header();
        self
    }

    /// Files listed by their hashed name in this manifest are `immutable` for a year.
    pub fn immutable_names(mut self, manifest: Manifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The part of `path` below this mount's prefix, if it is under it.
    pub(crate) fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(self.prefix.as_str())
    }

    /// Finds `path` in the directories, in order, with its precompressed siblings, and
    /// reads small files into memory (reusing `previous`'s bytes where unchanged).
    /// Blocking: runs on tokio's blocking pool.
    pub(crate) fn load(
        &self,
        path: &SafePath,
        previous: Option<&StaticFile>,
    ) -> io::Result<Option<StaticFile>> {
        for directory in &self.directories {
            let Some(relative) = path.as_str().strip_prefix(directory.prefix.as_str()) else {
                continue;
            };
            let candidate = directory.root.join(relative);
            let Some(identity) = open(directory, &candidate, Encoding::Identity, previous)? else {
                continue;
            };
            let mut compressed = Vec::new();
            for encoding in Encoding::COMPRESSED {
                let sibling = with_suffix(&candidate, encoding.suffix());
                if let Some(representation) = open(directory, &sibling, encoding, previous)? {
                    compressed.push(representation);
                }
            }
            let immutable = self
                .manifest
                .as_ref()
                .is_some_and(|manifest| manifest.lists(path.as_str()));
            return Ok(Some(StaticFile {
                identity,
                compressed,
                content_type: content_type(path.as_str()),
                cache_control: if immutable {
                    IMMUTABLE
                } else {
                    self.cache_control.clone()
                },
            }));
        }
        Ok(None)
    }
}

/// One representation of a file at `candidate`, if it is a regular file inside
/// `directory`.
fn open(
    directory: &Directory,
    candidate: &Path,
    encoding: Encoding,
    previous: Option<&StaticFile>,
) -> io::Result<Option<Representation>> {
    let Some(path) = directory.resolve(candidate)? else {
        return Ok(None);
    };
    let opened = match Representation::open(path, encoding) {
        Ok(opened) => opened,
        Err(error) if is_absent(&error) => None,
        Err(error) => return Err(error),
    };
    let Some((mut representation, mut file)) = opened else {
        return Ok(None);
    };
    let previous = previous
        .map(|p| p.representation(encoding))
        .filter(|p| p.encoding == encoding);
    representation.keep_contents(&mut file, previous)?;
    Ok(Some(representation))
}
