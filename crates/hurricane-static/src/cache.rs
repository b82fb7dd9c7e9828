//! The in-memory cache of files a mount has served.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::file::StaticFile;

/// A cached file is used without looking at the disk for this long; then it is looked
/// up again (a stat per stored form, and a read only if it changed). Edits show up
/// within this time, and a hot file costs a few syscalls a second instead of several
/// per request.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// At most this many files are cached per mount...
const MAX_ENTRIES: usize = 8192;
/// ...holding at most this many bytes. When either would be exceeded, the cache is
/// emptied and fills again with what is requested next: a crawl through every file
/// cannot grow memory, and hot files come back at once.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Files found under one mount, by their path below the mount.
#[derive(Debug, Default)]
pub struct FileCache {
    state: RwLock<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<String, Entry>,
    bytes: u64,
}

#[derive(Debug)]
struct Entry {
    file: Arc<StaticFile>,
    loaded: Instant,
}

impl FileCache {
    /// The cached file at `path` and whether it is recent enough to use as it is.
    pub fn get(&self, path: &str) -> Option<(Arc<StaticFile>, bool)> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.entries.get(path).map(|entry| {
            (
                Arc::clone(&entry.file),
                entry.loaded.elapsed() < REVALIDATE_AFTER,
            )
        })
    }

    /// Remembers `file` (or forgets `path`, with `None`: the file is gone).
    pub fn put(&self, path: &str, file: Option<Arc<StaticFile>>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = state.entries.remove(path) {
            state.bytes -= memory(&old.file);
        }
        let Some(file) = file else {
            return;
        };
        let size = memory(&file);
        if state.entries.len() >= MAX_ENTRIES || state.bytes + size > MAX_BYTES {
            state.entries.clear();
            state.bytes = 0;
        }
        if size <= MAX_BYTES {
            state.bytes += size;
            state.entries.insert(
                path.to_owned(),
                Entry {
                    file,
                    loaded: Instant::now(),
                },
            );
        }
    }
}

/// Bytes of file contents `file` holds in memory.
fn memory(file: &StaticFile) -> u64 {
    std::iter::once(&file.identity)
        .chain(&file.compressed)
        .filter_map(|r| r.contents.as_ref())
        .map(|c| c.len() as u64)
        .sum()
}
