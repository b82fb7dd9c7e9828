//! Watching directories with notify and turning bursts of events into single changes.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::filter::WatchFilter;
use crate::ReloadError;

/// A burst of events ends when nothing more happened for this long: a save that writes,
/// renames and chmods, a formatter run or a branch switch makes one change.
pub const QUIET: Duration = Duration::from_millis(50);

/// A burst that goes on longer than this is reported anyway.
const LONGEST_BURST: Duration = Duration::from_secs(1);

/// How often the polling fallback looks, when inotify is not available.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A directory watched recursively.
#[derive(Debug, Clone)]
pub struct WatchRoot {
    /// The directory.
    pub path: PathBuf,
    /// A `--static-watch` directory: every file counts, and a change runs collectstatic.
    pub is_static: bool,
}

/// What changed in one burst.
#[derive(Debug, Clone)]
pub struct Change {
    /// The changed paths that count, relative to their root where possible, in order of
    /// first appearance.
    pub paths: Vec<PathBuf>,
    /// Something under a static-watch root changed.
    pub touches_static: bool,
    /// When the first event of the burst was seen.
    pub first_seen: Instant,
}

impl Change {
    /// This change and a `later` one, as one: a reload for both.
    pub fn followed_by(mut self, later: Change) -> Change {
        for path in later.paths {
            if !self.paths.contains(&path) {
                self.paths.push(path);
            }
        }
        self.touches_static |= later.touches_static;
        self
    }
}

/// Watches its roots until dropped.
pub struct ChangeWatcher {
    _watcher: Box<dyn notify::Watcher + Send>,
}

impl std::fmt::Debug for ChangeWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeWatcher").finish_non_exhaustive()
    }
}

impl ChangeWatcher {
    /// Starts watching `roots`; changes `filter` wants arrive on `changes`, one per burst.
    /// Falls back to polling once a second where inotify cannot watch (too many
    /// directories for `fs.inotify.max_user_watches`).
    pub fn start(
        roots: Vec<WatchRoot>,
        filter: WatchFilter,
        changes: mpsc::UnboundedSender<Change>,
    ) -> Result<Self, ReloadError> {
        let roots = Arc::new(roots);
        let filter = Arc::new(filter);
        let (events_tx, events_rx) = std_mpsc::channel::<(PathBuf, bool)>();
        let handler_roots = Arc::clone(&roots);
        let handler = move |result: notify::Result<notify::Event>| {
            let Ok(event) = result else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                // The innermost root decides: a --static-watch directory inside the
                // project counts all its files, not only the project's patterns.
                let root = handler_roots
                    .iter()
                    .filter(|root| path.starts_with(&root.path))
                    .max_by_key(|root| root.path.components().count());
                if let Some(root) =
                    root.filter(|root| filter.wants(&root.path, &path, root.is_static))
                {
                    let shown = path
                        .strip_prefix(&root.path)
                        .map_or_else(|_| path.clone(), Path::to_path_buf);
                    let _ = events_tx.send((shown, root.is_static));
                }
            }
        };
        let watcher = watch_all(&roots, handler)?;
        std::thread::Builder::new()
            .name("hurricane-watch".into())
            .spawn(move || debounce(&events_rx, &changes))
            .map_err(ReloadError::Thread)?;
        Ok(Self { _watcher: watcher })
    }
}

fn watch_all<H: notify::EventHandler + Clone>(
    roots: &[WatchRoot],
    handler: H,
) -> Result<Box<dyn notify::Watcher + Send>, ReloadError> {
    let add = |watcher: &mut dyn notify::Watcher| {
        roots
            .iter()
            .try_for_each(|root| watcher.watch(&root.path, RecursiveMode::Recursive))
    };
    let mut inotify = notify::RecommendedWatcher::new(handler.clone(), notify::Config::default())
        .map_err(ReloadError::Watch)?;
    match add(&mut inotify) {
        Ok(()) => Ok(Box::new(inotify)),
        Err(error) => {
            tracing::warn!(%error, "cannot watch with inotify; polling for changes once a second instead");
            let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
            let mut polling =
                notify::PollWatcher::new(handler, config).map_err(ReloadError::Watch)?;
            add(&mut polling).map_err(ReloadError::Watch)?;
            Ok(Box::new(polling))
        }
    }
}

/// Groups events into bursts separated by [`QUIET`].
fn debounce(events: &std_mpsc::Receiver<(PathBuf, bool)>, changes: &mpsc::UnboundedSender<Change>) {
    while let Ok((path, is_static)) = events.recv() {
        let mut change = Change {
            paths: vec![path],
            touches_static: is_static,
            first_seen: Instant::now(),
        };
        while change.first_seen.elapsed() < LONGEST_BURST {
            match events.recv_timeout(QUIET) {
                Ok((path, is_static)) => {
                    change.touches_static |= is_static;
                    if !change.paths.contains(&path) {
                        change.paths.push(path);
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        if changes.send(change).is_err() {
            return;
        }
    }
}
