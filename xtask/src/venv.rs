//! The Python virtualenvs: `target/venv`, used by the demo, the tests and the
//! benchmark, and `target/venv-django-hurricane`, only for the benchmark's
//! django-hurricane (its pins clash with the test suite's, see
//! `requirements/django-hurricane.txt`). Both are made from the `python3` on
//! PATH (the Python hurricane is built against) and filled from the pinned
//! files in `requirements/`. What that Python lacks for both (Debian's
//! python3-venv and python3-dev) is installed first, see [`ensure_host_python`].
//!
//! pip only runs when a requirements file (or a file it includes with `-r`)
//! changed since the last install: the installed text is kept in a stamp
//! file inside the venv.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{which, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::{debian, paths};

pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    pub fn python(&self) -> PathBuf {
        self.bin("python")
    }

    /// A command for a program from the venv's bin/, with the venv active.
    pub fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin(program));
        self.activate(&mut cmd);
        cmd
    }

    /// What `source bin/activate` does: VIRTUAL_ENV set, bin/ first on PATH.
    pub fn activate(&self, cmd: &mut Command) {
        let mut path = vec![self.dir.join("bin")];
        if let Some(old) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&old));
        }
        // join_paths only fails on a ':' inside a directory name; then keep
        // the old PATH, VIRTUAL_ENV still selects the venv for hurricane.
        if let Ok(joined) = std::env::join_paths(path) {
            cmd.env("PATH", joined);
        }
        cmd.env("VIRTUAL_ENV", &self.dir).env_remove("PYTHONHOME");
    }
}

/// The requirements file that goes into its own venv, not `target/venv`.
pub const DJANGO_HURRICANE: &str = "django-hurricane.txt";

/// Prints what `python3` lacks, one Debian package a line: `venv` and
/// `ensurepip` (python3-venv) make the venv; the headers and libpython
/// (python3-dev) build hurricane, which embeds this Python through PyO3.
const MISSING_PARTS: &str = "\
import importlib.util as u, os, sysconfig
if not (u.find_spec('venv') and u.find_spec('ensurepip')):
    print('python3-venv')
if not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')):
    print('python3-dev')
";

/// Make sure `python3` is on PATH with what building hurricane and making a
/// venv need, installing Debian's packages for the missing parts.
pub fn ensure_host_python() -> Result<()> {
    if which("python3").is_none() {
        let packages = ["python3", "python3-venv", "python3-dev"];
        debian::install(&packages, "`python3` is not installed")?;
    }
    let missing = missing_parts()?;
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(package, _)| *package).collect();
    debian::install(&packages, &format!("python3 lacks {}", describe(&missing)))?;
    let still = missing_parts()?;
    if !still.is_empty() {
        bail!(
            "python3 ({}) still lacks {} after installing {}: it is not Debian's python3\n  \
             hint: install them for this Python, or put Debian's /usr/bin/python3 first on PATH",
            which("python3").unwrap_or_default().display(),
            describe(&still),
            packages.join(" ")
        );
    }
    Ok(())
}

/// The Debian packages `python3` lacks, with what each provides.
fn missing_parts() -> Result<Vec<(&'static str, &'static str)>> {
    let out = Command::new("python3").args(["-c", MISSING_PARTS]).read()?;
    let parts = [
        ("python3-venv", "the venv module (with ensurepip)"),
        ("python3-dev", "its development files (headers, libpython)"),
    ];
    Ok(parts
        .into_iter()
        .filter(|(package, _)| out.lines().any(|l| l.trim() == *package))
        .collect())
}

fn describe(parts: &[(&str, &str)]) -> String {
    let what: Vec<&str> = parts.iter().map(|(_, what)| *what).collect();
    what.join(" and ")
}

/// Create or refresh the venv of `requirements/<file>` and install the file
/// into it: `target/venv-django-hurricane` for [`DJANGO_HURRICANE`],
/// `target/venv` for every other file.
pub fn ensure(file: &str) -> Result<Venv> {
    ensure_host_python()?;
    let label = match file {
        DJANGO_HURRICANE => "venv-django-hurricane",
        _ => "venv",
    };
    ensure_at(Path::new("python3"), paths::target().join(label), file)
}

/// Create or refresh the venv at `dir`, made from the interpreter `python`, and
/// install `requirements/<file>` into it. A venv made from another Python is
/// made again.
pub fn ensure_at(python: &Path, dir: PathBuf, file: &str) -> Result<Venv> {
    let venv = Venv { dir };
    // "venv", "venv-django-hurricane", ..., for messages.
    let label = venv
        .dir
        .file_name()
        .map_or_else(|| "venv".into(), |n| n.to_string_lossy());
    let host = python_version(python)
        .hint("install Python 3 (Debian/Ubuntu: apt-get install python3 python3-venv)")?;
    let current = venv
        .python()
        .exists()
        .then(|| python_version(&venv.python()).ok())
        .flatten();
    if current.as_deref() != Some(host.as_str()) {
        match &current {
            Some(v) => println!("xtask: {label} has Python {v}, not {host}: recreating"),
            None => println!("xtask: creating {} (Python {host})", venv.dir.display()),
        }
        Command::new(python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv.dir)
            .run()
            .hint(
                "the venv module or ensurepip is missing; on Debian/Ubuntu run \
                 `apt-get update && apt-get install -y python3-venv`",
            )?;
    }

    let req = paths::requirements(file);
    let wanted = requirements_text(&req)?;
    let stamp = venv.dir.join(format!(".xtask-installed-{file}"));
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        println!("xtask: {label} up to date with requirements/{file}");
        return Ok(venv);
    }
    println!("xtask: installing requirements/{file} into target/{label}");
    venv.cmd("python")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .arg("--no-input")
        .arg("-r")
        .arg(&req)
        .run()
        .hint("pip could not install the pinned packages; check access to PyPI and the pins in requirements/")?;
    fs::write(&stamp, wanted).context(|| format!("could not write {}", stamp.display()))?;
    Ok(venv)
}

/// Version and installation of a Python, e.g. "3.11.7 at /usr": a venv
/// reports the installation it was made from, so the two compare equal.
fn python_version(python: &Path) -> Result<String> {
    let script = "import sys; print('%d.%d.%d' % sys.version_info[:3], 'at', sys.base_prefix)";
    let out = Command::new(python).args(["-c", script]).read()?;
    Ok(out.trim().to_string())
}

/// The file's text followed by the text of every file it pulls in with
/// `-r`/`--requirement`, so a change anywhere triggers a reinstall.
fn requirements_text(file: &Path) -> Result<String> {
    let mut out = String::new();
    collect(file, &mut out, 0).map(|()| out)
}

fn collect(file: &Path, out: &mut String, depth: usize) -> Result<()> {
    if depth > 10 {
        bail!(
            "requirements files include each other too deeply at {}",
            file.display()
        );
    }
    let text = fs::read_to_string(file)
        .context(|| format!("could not read requirements file {}", file.display()))?;
    out.push_str(&format!("## {}\n{text}\n", file.display()));
    for line in text.lines() {
        let line = line.trim();
        let include = line
            .strip_prefix("-r")
            .or_else(|| line.strip_prefix("--requirement"))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(name) = include.filter(|n| !n.is_empty()) {
            let base = file.parent().unwrap_or(Path::new("."));
            collect(&base.join(name), out, depth + 1)?;
        }
    }
    Ok(())
}
