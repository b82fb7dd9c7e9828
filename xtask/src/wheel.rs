//! `cargo xtask wheel`: the `hurricane-server` wheels, one per CPython version, built
//! by maturin from `crates/hurricane-py` into `target/wheels/`.
//!
//! Each wheel is linked with zig against glibc 2.28, so that it installs on every
//! Linux a `python:3.X-slim` image is based on, and is checked before it is handed
//! out: `auditwheel show` must report `manylinux_2_28` or older, and the wheel must
//! carry no libpython (the interpreter that imports it provides one). The build tools
//! live in their own venv, `target/venv-wheel-tools`, from `requirements/wheel.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{which, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::{paths, venv};

/// The newest glibc a wheel may need: `manylinux_2_28` (Debian 10+, RHEL 8+).
const GLIBC_MINOR: u32 = 28;

#[derive(clap::Args)]
pub struct Args {
    /// CPython versions to build for (each must be installed: python3.X on PATH or
    /// under pyenv).
    #[arg(long = "python", value_name = "3.X", default_values = ["3.10", "3.13"])]
    pythons: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    for version in &args.pythons {
        let wheel = build(version)?;
        println!("{}", wheel.display());
    }
    Ok(())
}

/// Builds and checks the wheel for CPython `version` ("3.12"); returns its path.
pub fn build(version: &str) -> Result<PathBuf> {
    let python = interpreter(version)?;
    let tools = venv::ensure_at(
        Path::new("python3"),
        paths::target().join("venv-wheel-tools"),
        "wheel.txt",
    )?;
    let out = paths::target().join("wheels");
    let tag = format!("-cp{}-", version.replace('.', ""));
    remove_wheels(&out, &tag)?;
    println!(
        "xtask: building the wheel for CPython {version} ({})",
        python.display()
    );
    tools
        .cmd("maturin")
        .args(["build", "--release", "--strip", "--zig", "--compatibility"])
        .arg(format!("manylinux_2_{GLIBC_MINOR}"))
        .arg("--manifest-path")
        .arg(paths::root().join("crates/hurricane-py/Cargo.toml"))
        .arg("--interpreter")
        .arg(&python)
        .arg("--out")
        .arg(&out)
        .run()
        .hint("maturin could not build the wheel; the error above names the cause")?;
    let Some(wheel) = wheels(&out)?
        .into_iter()
        .find(|w| file_name(w).contains(&tag))
    else {
        bail!(
            "maturin reported success but left no wheel with `{tag}` in {}",
            out.display()
        );
    };
    check(&tools, &wheel)?;
    Ok(wheel)
}

/// A venv at `dir`, made from CPython `version`, with `requirements/<file>` and the
/// package's wheel for that version (built first) installed.
pub fn venv_with_package(version: &str, dir: PathBuf, requirements: &str) -> Result<venv::Venv> {
    let wheel = build(version)?;
    let venv = venv::ensure_at(&interpreter(version)?, dir, requirements)?;
    venv.cmd("python")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--force-reinstall"])
        .arg(&wheel)
        .run()
        .hint("pip could not install the wheel just built")?;
    Ok(venv)
}

/// The `3.X` of `python3` on PATH: the Python the `hurricane` binary embeds.
pub fn host_version() -> Result<String> {
    let script = "import sys; print('%d.%d' % sys.version_info[:2])";
    Ok(Command::new("python3")
        .args(["-c", script])
        .read()?
        .trim()
        .to_string())
}

/// CPython `version`: `python3.X` on PATH, else the newest pyenv installation of it.
/// The path returned is the interpreter itself (`sys.executable`), not a pyenv shim,
/// which fails for a version that is installed but not selected.
pub fn interpreter(version: &str) -> Result<PathBuf> {
    let program = format!("python{version}");
    let on_path = which(&program).into_iter();
    let root = Command::new("pyenv").arg("root").read().ok();
    let versions = root.map(|r| PathBuf::from(r.trim()).join("versions"));
    let mut pyenv: Vec<PathBuf> = versions
        .and_then(|dir| fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| file_name(dir).starts_with(&format!("{version}.")))
        .map(|dir| dir.join("bin").join(&program))
        .collect();
    pyenv.sort_by_key(|python| std::cmp::Reverse(patch_level(python, version)));
    let executable = "import sys; print(sys.executable)";
    let found = on_path
        .chain(pyenv)
        .find_map(|python| Command::new(python).args(["-c", executable]).read().ok());
    match found {
        Some(path) => Ok(PathBuf::from(path.trim())),
        None => bail!(
            "CPython {version} is not installed: no working {program} on PATH or under pyenv\n  \
             hint: `pyenv install {version}`, or install your distribution's {program}"
        ),
    }
}

/// The patch number of `<pyenv>/versions/3.X.<patch>/bin/python3.X`, for ordering.
fn patch_level(python: &Path, version: &str) -> u32 {
    let dir = python.ancestors().nth(2).map(file_name).unwrap_or_default();
    let patch = dir.strip_prefix(&format!("{version}.")).unwrap_or("");
    patch.parse().unwrap_or(0)
}

/// `auditwheel show` must find no glibc newer than [`GLIBC_MINOR`] and no libpython
/// may be in the wheel.
fn check(tools: &venv::Venv, wheel: &Path) -> Result<()> {
    let report = tools.cmd("auditwheel").arg("show").arg(wheel).read()?;
    let Some(minor) = manylinux_minor(&report) else {
        bail!(
            "`auditwheel show {}` names no manylinux tag:\n{report}",
            wheel.display()
        );
    };
    if minor > GLIBC_MINOR {
        bail!(
            "{} needs manylinux_2_{minor}, newer than manylinux_2_{GLIBC_MINOR}: it would not \
             install on older distributions\n{report}",
            wheel.display()
        );
    }
    let list = "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))";
    let names = tools.cmd("python").args(["-c", list]).arg(wheel).read()?;
    if let Some(copy) = names.lines().find(|name| name.contains("libpython")) {
        bail!("{} carries a copy of libpython ({copy})", wheel.display());
    }
    let size = fs::metadata(wheel).map(|m| m.len()).unwrap_or(0);
    println!(
        "xtask: {} is manylinux_2_{minor} ({:.1} MB, no libpython)",
        file_name(wheel),
        size as f64 / 1e6
    );
    Ok(())
}

/// The glibc minor version of the platform tag auditwheel finds the wheel consistent
/// with (`... following platform tag: "manylinux_2_28_x86_64"`), not the one in the
/// file name, which only says what maturin was asked for.
fn manylinux_minor(report: &str) -> Option<u32> {
    let finding = report.split("platform tag").nth(1)?;
    let tag = finding.split("manylinux_2_").nth(1)?;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn wheels(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let entries = fs::read_dir(dir).context(|| format!("could not list {}", dir.display()))?;
    Ok(entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| file_name(path).ends_with(".whl"))
        .collect())
}

/// Earlier wheels of the same CPython version, so that the one found after the
/// build is the one just built.
fn remove_wheels(dir: &Path, tag: &str) -> Result<()> {
    for wheel in wheels(dir)?.iter().filter(|w| file_name(w).contains(tag)) {
        fs::remove_file(wheel).context(|| format!("could not remove {}", wheel.display()))?;
    }
    Ok(())
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::manylinux_minor;

    #[test]
    fn reads_the_tag_auditwheel_constrains_the_wheel_to() {
        let report = "hurricane_server-0.1.0-cp313-cp313-manylinux_2_28_x86_64.whl is\n\
                      consistent with the following platform tag: \"manylinux_2_17_x86_64\".\n";
        assert_eq!(manylinux_minor(report), Some(17));
        assert_eq!(manylinux_minor("no tag here"), None);
    }
}
