//! `cargo xtask dist`: `target/dist/hurricane-<version>-<target>.tar.gz`
//! with the release binary, README.md and LICENSE.

use std::fs;
use std::process::Command;

use crate::cmd::{cargo, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::{demo, paths};

pub fn run() -> Result<()> {
    demo::build_release()?;
    let version = version()?;
    let triple = host_triple()?;
    let name = format!("hurricane-{version}-{triple}");
    let dist = paths::target().join("dist");
    let stage = dist.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage).context(|| format!("could not remove {}", stage.display()))?;
    }
    fs::create_dir_all(&stage).context(|| format!("could not create {}", stage.display()))?;

    let root = paths::root();
    let files = [
        (paths::hurricane_bin(), "hurricane"),
        (root.join("README.md"), "README.md"),
        (root.join("LICENSE"), "LICENSE"),
    ];
    for (src, dest) in &files {
        fs::copy(src, stage.join(dest))
            .context(|| format!("could not copy {} into {}", src.display(), stage.display()))?;
    }

    let tarball = dist.join(format!("{name}.tar.gz"));
    Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dist)
        .arg(&name)
        .run()
        .hint("`tar` with gzip support is needed to pack the release")?;
    fs::remove_dir_all(&stage).context(|| format!("could not remove {}", stage.display()))?;
    println!("{}", tarball.display());
    Ok(())
}

/// The hurricane-cli package version, from `cargo pkgid`
/// (`path+file:///…/crates/hurricane-cli#0.1.0` or `…#hurricane-cli@0.1.0`).
fn version() -> Result<String> {
    let id = cargo().args(["pkgid", "-p", "hurricane-cli"]).read()?;
    let id = id.trim();
    let after_hash = id.rsplit('#').next().unwrap_or(id);
    let version = after_hash.rsplit('@').next().unwrap_or(after_hash);
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("could not read a version from `cargo pkgid -p hurricane-cli` output {id:?}");
    }
    Ok(version.to_string())
}

/// The `host:` line of `rustc -vV`, e.g. `x86_64-unknown-linux-gnu`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").read()?;
    match out.lines().find_map(|l| l.strip_prefix("host: ")) {
        Some(host) => Ok(host.trim().to_string()),
        None => bail!("`rustc -vV` printed no `host:` line"),
    }
}
