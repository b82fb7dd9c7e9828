//! Which changed files count.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::ReloadError;

/// Watched by default: Python code, Django templates and translations.
const DEFAULT_INCLUDE: &[&str] = &[
    "*.py",
    "**/templates/**",
    "**/locale/**/*.mo",
    "**/locale/**/*.po",
];

/// Never a reason to reload: version control, bytecode, dependencies, databases and the
/// files editors write while saving.
const DEFAULT_EXCLUDE: &[&str] = &[
    ".*",
    "**/.*/**",
    "**/__pycache__/**",
    "*.py[cod]",
    "**/node_modules/**",
    "**/venv/**",
    "*.sqlite3",
    "*.sqlite",
    "*.db",
    "*-journal",
    "*-wal",
    "*-shm",
    "*.sw[pox]",
    "*~",
    "4913",
    "*.tmp",
];

/// Decides whether a changed path should reload the server.
///
/// Order: `--reload-exclude` first, then `--reload-include` (which wins over the
/// default ignores), then the ignored directories and default ignores, then the default
/// patterns. Patterns match the path relative to its watched root; one without a `/`
/// matches a file name in any directory.
#[derive(Debug)]
pub struct WatchFilter {
    user_exclude: GlobSet,
    user_include: GlobSet,
    default_exclude: GlobSet,
    default_include: GlobSet,
    /// Absolute directories never watched: virtualenvs, and what the server reports
    /// (MEDIA_ROOT). Shared with the supervisor, which hears of the latter.
    ignored_dirs: IgnoredDirs,
}

impl WatchFilter {
    /// The default filter plus `include` and minus `exclude` (globs; `*` stays within one
    /// path segment, a pattern without `/` matches in any directory).
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, ReloadError> {
        Ok(Self {
            user_exclude: glob_set(exclude.iter().map(String::as_str))?,
            user_include: glob_set(include.iter().map(String::as_str))?,
            default_exclude: glob_set(DEFAULT_EXCLUDE.iter().copied())?,
            default_include: glob_set(DEFAULT_INCLUDE.iter().copied())?,
            ignored_dirs: IgnoredDirs::default(),
        })
    }

    /// Never reload for anything under `dir`.
    pub fn ignore_dir(&self, dir: PathBuf) {
        self.ignored_dirs.add(dir);
    }

    /// A handle that adds ignored directories while the filter is in use.
    pub fn ignored_dirs(&self) -> IgnoredDirs {
        self.ignored_dirs.clone()
    }

    /// Whether a change to `path` (absolute, under `root`) reloads. Files under a
    /// static-watch root count whatever their name, unless ignored.
    pub fn wants(&self, root: &Path, path: &Path, everything: bool) -> bool {
        let Ok(relative) = path.strip_prefix(root) else {
            return false;
        };
        if self.user_exclude.is_match(relative) {
            return false;
        }
        if self.user_include.is_match(relative) {
            return true;
        }
        if self.ignored_dirs.contain(path) || self.default_exclude.is_match(relative) {
            return false;
        }
        everything || self.default_include.is_match(relative)
    }
}

/// Directories whose changes never count, shared between the watcher and the supervisor.
#[derive(Debug, Clone, Default)]
pub struct IgnoredDirs(Arc<RwLock<Vec<PathBuf>>>);

impl IgnoredDirs {
    /// Never count changes under `dir` from now on.
    pub fn add(&self, dir: PathBuf) {
        let mut dirs = self.0.write().unwrap_or_else(|p| p.into_inner());
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }

    fn contain(&self, path: &Path) -> bool {
        let dirs = self.0.read().unwrap_or_else(|p| p.into_inner());
        dirs.iter().any(|dir| path.starts_with(dir))
    }
}

fn glob_set<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<GlobSet, ReloadError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        set.add(glob(pattern)?);
    }
    set.build().map_err(|error| ReloadError::Pattern {
        pattern: String::new(),
        error,
    })
}

/// `*` stays within one path segment; a pattern without `/` matches in any directory.
fn glob(pattern: &str) -> Result<Glob, ReloadError> {
    let anchored = if pattern.contains('/') {
        pattern.trim_start_matches("./").to_owned()
    } else {
        format!("**/{pattern}")
    };
    GlobBuilder::new(&anchored)
        .literal_separator(true)
        .build()
        .map_err(|error| ReloadError::Pattern {
            pattern: pattern.to_owned(),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wants(filter: &WatchFilter, relative: &str) -> bool {
        filter.wants(Path::new("/p"), &Path::new("/p").join(relative), false)
    }

    #[test]
    fn python_templates_and_translations_count() {
        let filter = WatchFilter::new(&[], &[]).unwrap();
        for path in [
            "manage.py",
            "demo/views.py",
            "demo/templates/demo/page.html",
            "templates/base.txt",
            "locale/de/LC_MESSAGES/django.mo",
        ] {
            assert!(wants(&filter, path), "{path}");
        }
    }

    #[test]
    fn noise_does_not() {
        let filter = WatchFilter::new(&[], &[]).unwrap();
        for path in [
            "demo/__pycache__/views.cpython-311.pyc",
            "demo/views.pyc",
            ".git/index",
            ".venv/lib/python3.11/site-packages/x.py",
            "venv/lib/x.py",
            "node_modules/pkg/index.py",
            "db.sqlite3",
            "db.sqlite3-journal",
            "demo/.views.py.swp",
            "demo/views.py~",
            "demo/.#views.py",
            "demo/4913",
            "demo/static/app.css",
            "README.md",
        ] {
            assert!(!wants(&filter, path), "{path}");
        }
    }

    #[test]
    fn user_patterns_come_first() {
        let filter = WatchFilter::new(
            &["*.css".into(), "*.sqlite3".into()],
            &["demo/generated/*".into()],
        )
        .unwrap();
        assert!(wants(&filter, "demo/static/app.css"));
        assert!(wants(&filter, "db.sqlite3"));
        assert!(!wants(&filter, "demo/generated/models.py"));
        assert!(
            wants(&filter, "demo/generated/sub/models.py"),
            "* stays within a segment"
        );
    }

    #[test]
    fn ignored_directories() {
        let filter = WatchFilter::new(&[], &[]).unwrap();
        filter.ignore_dir(PathBuf::from("/p/media"));
        assert!(!wants(&filter, "media/upload.py"));
        assert!(filter.wants(Path::new("/s"), Path::new("/s/app.js"), true));
        assert!(!filter.wants(Path::new("/s"), Path::new("/s/.app.js.swp"), true));
    }
}
