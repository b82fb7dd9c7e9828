//! Well-known locations in the repository.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.pop();
    dir
}

pub fn target() -> PathBuf {
    root().join("target")
}

/// The release binary built by `cargo build --release -p hurricane-cli`.
pub fn hurricane_bin() -> PathBuf {
    target().join("release").join("hurricane")
}

/// The Django project the demo, tests and benchmark use.
pub fn example_project() -> PathBuf {
    root().join("examples").join("mysite")
}

/// `path` relative to the workspace root when under it, for messages.
pub fn shown(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

pub fn requirements(file: &str) -> PathBuf {
    root().join("requirements").join(file)
}
