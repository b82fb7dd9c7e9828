//! A file as it is served: its stored forms (identity and precompressed siblings), their
//! validators, and for small files their bytes.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;

use crate::encoding::Encoding;

/// Files up to this size are kept in memory with their headers and sent without
/// touching the disk; larger ones are streamed from disk for each request.
pub const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// One stored form of a file: the file itself or a precompressed sibling.
#[derive(Debug, Clone)]
pub struct Representation {
    pub encoding: Encoding,
    /// Canonical path, inside the directory it was found in.
    pub path: PathBuf,
    pub len: u64,
    /// Modification time in whole seconds, as `Last-Modified` carries it.
    pub modified: SystemTime,
    /// Strong, quoted; changes with the size or the nanosecond mtime, and differs
    /// between encodings.
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    /// The bytes, when the file is at most [`IN_MEMORY_MAX`].
    pub contents: Option<Bytes>,
}

impl Representation {
    /// Opens `path` and describes it from the open file, so that what is sent later
    /// through this handle matches the description. `Ok(None)` when it is not a regular
    /// file. Blocking.
    pub fn open(path: PathBuf, encoding: Encoding) -> io::Result<Option<(Self, File)>> {
        let file = File::open(&path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Ok(None);
        }
        let since_epoch = metadata
            .modified()
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = metadata.len();
        let modified = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
        let etag = format!(
            "\"{:x}.{:x}-{len:x}{}\"",
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
            encoding.suffix().replace('.', "-"),
        );
        let representation = Self {
            encoding,
            path,
            len,
            modified,
            etag: HeaderValue::try_from(etag).map_err(io::Error::other)?,
            last_modified: HeaderValue::try_from(httpdate::fmt_http_date(modified))
                .map_err(io::Error::other)?,
            contents: None,
        };
        Ok(Some((representation, file)))
    }

    /// Keeps the file's bytes in memory if it is small enough: from `previous` when that
    /// described the same bytes, else read from `file`. A file that changes while it is
    /// read is left on disk (it will be streamed, and looked at again soon). Blocking.
    pub fn keep_contents(
        &mut self,
        file: &mut File,
        previous: Option<&Representation>,
    ) -> io::Result<()> {
        if self.len > IN_MEMORY_MAX {
            return Ok(());
        }
        if let Some(previous) = previous.filter(|p| p.is_unchanged(self)) {
            self.contents.clone_from(&previous.contents);
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(self.len as usize);
        file.take(IN_MEMORY_MAX + 1).read_to_end(&mut buffer)?;
        if buffer.len() as u64 == self.len {
            self.contents = Some(Bytes::from(buffer));
        }
        Ok(())
    }

    /// Whether `other` describes the same bytes on disk.
    pub fn is_unchanged(&self, other: &Self) -> bool {
        self.path == other.path && self.etag == other.etag
    }
}

/// A file found under a mount, in every form it is stored in.
#[derive(Debug)]
pub struct StaticFile {
    pub identity: Representation,
    /// Precompressed siblings, in [`Encoding::COMPRESSED`] order.
    pub compressed: Vec<Representation>,
    pub content_type: HeaderValue,
    pub cache_control: HeaderValue,
}

impl StaticFile {
    pub fn encodings(&self) -> impl Iterator<Item = Encoding> + '_ {
        self.compressed.iter().map(|r| r.encoding)
    }

    pub fn representation(&self, encoding: Encoding) -> &Representation {
        self.compressed
            .iter()
            .find(|r| r.encoding == encoding)
            .unwrap_or(&self.identity)
    }
}

/// `path` with `suffix` appended to its file name (`app.css` → `app.css.gz`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
