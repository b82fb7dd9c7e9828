//! Django's `staticfiles.json`: which file names carry a content hash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::cache::REVALIDATE_AFTER;

/// The hashed names listed by a `ManifestStaticFilesStorage` manifest
/// (`{"paths": {"css/site.css": "css/site.3f2a9b1c4d5e.css"}, ...}`). A hashed name's
/// content never changes, so it may be cached for a year and marked `immutable`; the
/// original name may not.
///
/// The file is read again when it changes (noticed at most once per
/// [`REVALIDATE_AFTER`]), so `collectstatic` run against a live server takes effect.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    state: Mutex<ManifestState>,
}

#[derive(Debug, Default)]
struct ManifestState {
    checked: Option<Instant>,
    modified: Option<SystemTime>,
    hashed: Arc<HashSet<String>>,
}

impl Manifest {
    /// A manifest at `path`. A missing file means "no hashed names" until it appears.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            state: Mutex::new(ManifestState::default()),
        }
    }

    /// Whether `relative_path` is a hashed name. Touches the disk (a stat, a read when the
    /// file changed), so it is called where files are loaded, not per request.
    pub fn lists(&self, relative_path: &str) -> bool {
        self.hashed_names().contains(relative_path)
    }

    fn hashed_names(&self) -> Arc<HashSet<String>> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state
            .checked
            .is_some_and(|checked| checked.elapsed() < REVALIDATE_AFTER)
        {
            return Arc::clone(&state.hashed);
        }
        state.checked = Some(Instant::now());
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != state.modified {
            state.modified = modified;
            state.hashed = Arc::new(match modified {
                Some(_) => read_hashed_names(&self.path),
                None => HashSet::new(),
            });
        }
        Arc::clone(&state.hashed)
    }
}

fn read_hashed_names(path: &Path) -> HashSet<String> {
    let parsed = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string())
        });
    match parsed {
        Ok(manifest) => hashed_names(&manifest),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the static files manifest; no file is marked immutable");
            HashSet::new()
        }
    }
}

/// The values of `paths`: Django's manifest maps original names to hashed ones.
fn hashed_names(manifest: &serde_json::Value) -> HashSet<String> {
    manifest
        .get("paths")
        .and_then(serde_json::Value::as_object)
        .map(|paths| {
            paths
                .values()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashed_names_are_listed() {
        let dir = std::env::temp_dir().join(format!("hurricane-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("staticfiles.json");
        std::fs::write(
            &path,
            r#"{"paths": {"css/site.css": "css/site.0123456789ab.css"}, "version": "1.1", "hash": "x"}"#,
        )
        .unwrap();
        let manifest = Manifest::new(&path);
        assert!(manifest.lists("css/site.0123456789ab.css"));
        assert!(!manifest.lists("css/site.css"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_or_broken_manifest_lists_nothing() {
        assert!(!Manifest::new("/nonexistent/staticfiles.json").lists("a.css"));
        assert!(hashed_names(&serde_json::json!({"paths": 3})).is_empty());
    }
}
