//! A URL prefix served from one or more directories, and how its files are looked up.

use std::io;
use std::path::Path;
use std::time::Duration;

use http::HeaderValue;

use crate::cache::FileCache;
use crate::content_type::content_type;
use crate::directory::{is_absent, resolve, Directory};
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
    ///
    /// ```
    /// use hurricane_static::{Directory, Mount};
    ///
    /// // `/static/lib.rs` is looked for in `src/` first, then in `examples/`.
    /// let mount = Mount::new("/static/", vec![Directory::open("src")?, Directory::open("examples")?])?;
    /// assert_eq!(mount.prefix(), "/static/");
    ///
    /// assert!(Mount::new("static", vec![]).is_err());
    /// assert!(Mount::new("/", vec![]).is_err());
    /// # Ok::<(), hurricane_static::StaticError>(())
    /// ```
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use hurricane_static::{CacheControl, Directory, Mount, StaticFiles};
    ///
    /// let mount = Mount::new("/static/", vec![Directory::open("src")?])?
    ///     .cache_control(CacheControl::MaxAge(Duration::from_secs(3600)));
    /// let files = StaticFiles::new(vec![mount]);
    ///
    /// let request = http::Request::get("/static/lib.rs").body(())?;
    /// let response = tokio::runtime::Runtime::new()?.block_on(files.serve(&request));
    /// let response = response.expect("under the mount");
    /// assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_control(mut self, cache_control: CacheControl) -> Self {
        self.cache_control = cache_control.header();
        self
    }

    /// Files listed by their hashed name in this manifest are `immutable` for a year.
    ///
    /// ```
    /// use hurricane_static::{Directory, Manifest, Mount};
    ///
    /// // Written by `collectstatic` with ManifestStaticFilesStorage; read again when it
    /// // changes, and until it exists no name counts as hashed.
    /// let static_root = std::env::temp_dir();
    /// let mount = Mount::new("/static/", vec![Directory::open(&static_root)?])?
    ///     .immutable_names(Manifest::new(static_root.join("staticfiles.json")));
    /// # Ok::<(), hurricane_static::StaticError>(())
    /// ```
    pub fn immutable_names(mut self, manifest: Manifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// The URL prefix, e.g. `/static/`.
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
            let Some(relative) = directory.relative(path.as_str()) else {
                continue;
            };
            let Some(root) = directory.root_now() else {
                continue;
            };
            let candidate = root.join(relative);
            let Some(identity) = open(root, &candidate, Encoding::Identity, previous)? else {
                continue;
            };
            let mut compressed = Vec::new();
            for encoding in Encoding::COMPRESSED {
                let sibling = with_suffix(&candidate, encoding.suffix());
                if let Some(representation) = open(root, &sibling, encoding, previous)? {
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

/// One representation of a file at `candidate`, if it is a regular file inside `root`
/// (canonical).
fn open(
    root: &Path,
    candidate: &Path,
    encoding: Encoding,
    previous: Option<&StaticFile>,
) -> io::Result<Option<Representation>> {
    let Some(path) = resolve(root, candidate)? else {
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
