//! `cargo xtask dist`: the release in `target/dist/`: the `hurricane-server` wheels
//! for every supported CPython (see [`crate::wheel`]) and
//! `hurricane-<version>-<target>.tar.gz` with the binary, README.md and LICENSE.
//!
//! The tarball's binary is built apart from the development build
//! (`target/dist-build`): stripped, and without the rpath into the build machine's
//! Python that development builds carry, so it loads the system's libpython; its
//! README says which one.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{cargo, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::{paths, wheel};

/// Every CPython version the package supports: one wheel each.
const PYTHONS: [&str; 4] = ["3.10", "3.11", "3.12", "3.13"];

pub fn run() -> Result<()> {
    let dist = paths::target().join("dist");
    fs::create_dir_all(&dist).context(|| format!("could not create {}", dist.display()))?;
    for version in PYTHONS {
        let built = wheel::build(version)?;
        let name = built.file_name().unwrap_or_default();
        fs::copy(&built, dist.join(name))
            .context(|| format!("could not copy {} into {}", built.display(), dist.display()))?;
        println!("{}", dist.join(name).display());
    }
    println!("{}", tarball(&dist)?.display());
    Ok(())
}

/// Builds the portable binary and packs it with its README and the licence.
fn tarball(dist: &Path) -> Result<PathBuf> {
    let binary = build_portable_binary()?;
    let libpython = needed_libpython(&binary)?;
    let version = version()?;
    let triple = host_triple()?;
    let name = format!("hurricane-{version}-{triple}");
    let stage = dist.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage).context(|| format!("could not remove {}", stage.display()))?;
    }
    fs::create_dir_all(&stage).context(|| format!("could not create {}", stage.display()))?;
    let root = paths::root();
    for (src, dest) in [(binary, "hurricane"), (root.join("LICENSE"), "LICENSE")] {
        fs::copy(&src, stage.join(dest))
            .context(|| format!("could not copy {} into {}", src.display(), stage.display()))?;
    }
    let readme = readme(&version, &triple, &libpython)?;
    fs::write(stage.join("README.md"), readme)
        .context(|| format!("could not write the README into {}", stage.display()))?;

    let tarball = dist.join(format!("{name}.tar.gz"));
    Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(dist)
        .arg(&name)
        .run()
        .hint("`tar` with gzip support is needed to pack the release")?;
    fs::remove_dir_all(&stage).context(|| format!("could not remove {}", stage.display()))?;
    Ok(tarball)
}

/// `cargo build --release -p hurricane-cli`, stripped and without an rpath, in
/// `target/dist-build` so that the development build stays as it is.
fn build_portable_binary() -> Result<PathBuf> {
    let target_dir = paths::target().join("dist-build");
    cargo()
        .args(["build", "--release", "-p", "hurricane-cli"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("HURRICANE_NO_RPATH", "1")
        .run()
        .hint("the release build of the hurricane binary failed; see the compiler output above")?;
    Ok(target_dir.join("release").join("hurricane"))
}

/// The libpython the binary loads (`libpython3.11.so.1.0`), from its dynamic section,
/// which must hold no RPATH or RUNPATH; the binary must have no symbol table left.
fn needed_libpython(binary: &Path) -> Result<String> {
    let readelf = |option: &str| {
        Command::new("readelf")
            .arg(option)
            .arg(binary)
            .read()
            .hint("readelf (Debian's binutils) checks the binary before it is packed")
    };
    if readelf("--sections")?.contains(".symtab") {
        bail!(
            "{} is not stripped: it still has a symbol table",
            binary.display()
        );
    }
    let dynamic = readelf("--dynamic")?;
    if let Some(line) = dynamic
        .lines()
        .find(|l| l.contains("RPATH") || l.contains("RUNPATH"))
    {
        bail!(
            "{} still has a library path of the build machine: {}",
            binary.display(),
            line.trim()
        );
    }
    let needed = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        .find(|library| library.starts_with("libpython"));
    match needed {
        Some(library) => Ok(library.to_string()),
        None => bail!(
            "{} needs no libpython: was it built without Python?",
            binary.display()
        ),
    }
}

/// The tarball's README: what the binary needs to run, then the project's README.
fn readme(version: &str, triple: &str, libpython: &str) -> Result<String> {
    // libpython3.11.so.1.0 -> 3.11
    let python = libpython
        .strip_prefix("libpython")
        .and_then(|rest| rest.split(".so").next())
        .unwrap_or("3");
    let notes = include_str!("../templates/dist-README.md")
        .replace("{version}", version)
        .replace("{triple}", triple)
        .replace("{python}", python)
        .replace("{libpython}", libpython);
    let project = paths::root().join("README.md");
    let project =
        fs::read_to_string(&project).context(|| format!("could not read {}", project.display()))?;
    Ok(format!("{notes}\n---\n\n{project}"))
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
