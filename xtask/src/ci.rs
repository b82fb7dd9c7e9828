//! `cargo xtask ci`: every check and test, in the order CI runs them.
//! Stops at the first failing step and names it.

use std::process::Command;
use std::time::Instant;

use crate::cmd::{cargo, describe, which, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::{debian, demo, paths, venv, wheel};

/// A cargo command line (also the step's name) and the hint shown when it
/// fails, or a named task.
enum Step {
    Cargo(&'static str, &'static str),
    Task(&'static str, fn() -> Result<()>),
}
use Step::{Cargo, Task};

const STEPS: &[Step] = &[
    Task(
        "system packages: python3 with venv and headers, promtool",
        system_packages,
    ),
    Cargo(
        "cargo fmt --all --check",
        "run `cargo fmt --all` and commit the result",
    ),
    Cargo(
        "cargo clippy --workspace --all-targets -- -D warnings",
        "fix the lints above",
    ),
    Task(
        "cargo clippy -p <crate> -- -D warnings, for each crate's feature selections",
        clippy_feature_selections,
    ),
    Task(
        "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps",
        doc,
    ),
    Cargo("cargo test --workspace", "fix the failing tests above"),
    Cargo(
        "cargo build --examples --workspace",
        "fix the examples' build errors above",
    ),
    Task(
        "cargo build --release -p hurricane-cli",
        demo::build_release,
    ),
    Task("venv (requirements/test.txt)", || {
        venv::ensure("test.txt").map(drop)
    }),
    Task("pytest tests", pytest),
    Task(
        "python package: wheels for CPython 3.10 and 3.13, the tests marked `launchers` \
         through manage.py and the console script",
        python_package,
    ),
];

/// The CPython versions CI builds the wheel for and runs the suite with: the oldest
/// and the newest supported (`cargo xtask wheel --python 3.11 --python 3.12` builds
/// the others).
const PACKAGE_PYTHONS: [&str; 2] = ["3.10", "3.13"];

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Cargo(name, _) | Task(name, _) => name,
        }
    }

    fn run(&self) -> Result<()> {
        match self {
            Cargo(line, hint) => cargo().args(line.split(' ').skip(1)).run().hint(hint),
            Task(_, run) => run(),
        }
    }
}

fn doc() -> Result<()> {
    cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()
        .hint("fix the documentation warnings above (broken links, bad code blocks)")
}

/// What the build and the tests need from the system, installed from
/// Debian's packages where missing (as root or with sudo): first, so that a
/// machine where that is not possible learns it before a long build.
fn system_packages() -> Result<()> {
    venv::ensure_host_python()?;
    let version = Command::new("python3").arg("--version").read()?;
    let path = which("python3").unwrap_or_default();
    println!("xtask: {} at {}", version.trim(), path.display());
    // tests/test_metrics.py lints /metrics with `promtool check metrics`.
    let promtool = debian::ensure_program("promtool", "prometheus")?;
    println!("xtask: promtool at {}", promtool.display());
    Ok(())
}

/// Lints every crate that has cargo features with each selection a user can build it
/// with, beyond the defaults the workspace-wide clippy step covers: none, each feature on
/// its own (the CLI's `--no-default-features --features static`, ...), and all. The
/// features come from `cargo metadata`, so a feature added to a crate is linted without
/// touching this list. `cargo clippy` only checks, reusing the build cache, so this
/// costs seconds per selection, not a build.
fn clippy_feature_selections() -> Result<()> {
    for (package, selection) in feature_selections()? {
        let mut cmd = cargo();
        cmd.args(["clippy", "-p", &package, "--all-targets"])
            .args(&selection)
            .args(["--", "-D", "warnings"]);
        println!("xtask: {}", cmd.line());
        cmd.run().hint(
            "a feature selection that does not build or lint cleanly: fix the `#[cfg(feature = ...)]`s",
        )?;
    }
    Ok(())
}

/// `(package, cargo flags)` for every workspace crate that has features.
fn feature_selections() -> Result<Vec<(String, Vec<String>)>> {
    let json = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .read()?;
    let metadata: serde_json::Value =
        serde_json::from_str(&json).context(|| "cannot parse `cargo metadata`".into())?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut selections = Vec::new();
    for package in packages {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        let mut features: Vec<&str> = package["features"]
            .as_object()
            .map(|features| features.keys().map(String::as_str).collect())
            .unwrap_or_default();
        features.retain(|feature| *feature != "default");
        features.sort_unstable();
        if features.is_empty() {
            continue;
        }
        let none = "--no-default-features".to_owned();
        selections.push((name.to_owned(), vec![none.clone()]));
        // With a single feature, that feature alone is the same build as all of them.
        if features.len() > 1 {
            for feature in &features {
                let alone = vec![none.clone(), "--features".into(), (*feature).to_owned()];
                selections.push((name.to_owned(), alone));
            }
        }
        selections.push((name.to_owned(), vec!["--all-features".into()]));
    }
    Ok(selections)
}

fn pytest() -> Result<()> {
    let venv = venv::ensure("test.txt")?;
    let mut cmd = venv.cmd("python");
    cmd.env("HURRICANE_BIN", paths::hurricane_bin());
    run_pytest(cmd, &venv, &[])
}

/// Each wheel goes into a venv of its own Python with the suite's requirements, and
/// the tests that run with every launcher run through both of the package's.
fn python_package() -> Result<()> {
    for version in PACKAGE_PYTHONS {
        let dir = paths::target().join(format!("venv-package-{version}"));
        let venv = wheel::venv_with_package(version, dir, "test.txt")?;
        for launcher in ["manage.py", "script"] {
            println!("xtask: CPython {version}, HURRICANE_LAUNCHER={launcher}");
            let mut cmd = venv.cmd("python");
            cmd.env("HURRICANE_LAUNCHER", launcher);
            run_pytest(cmd, &venv, &["-m", "launchers"])?;
        }
    }
    Ok(())
}

/// `python -m pytest tests` with the servers' Python taken from `venv`.
fn run_pytest(mut cmd: Command, venv: &venv::Venv, selection: &[&str]) -> Result<()> {
    cmd.args(["-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"])
        .args(selection)
        .env("HURRICANE_VENV", venv.dir())
        // Release builds and wheels have every feature: no test may be skipped for lack
        // of one.
        .env(
            "HURRICANE_EXPECT_FEATURES",
            "probe processes reload static webhook",
        )
        .current_dir(paths::root());
    let status = cmd.run_status()?;
    match status.code() {
        Some(0) => Ok(()),
        Some(5) => bail!("pytest collected no tests in tests/ (exit status 5)"),
        _ => bail!("`{}` failed ({})", cmd.line(), describe(status)),
    }
}

pub fn run() -> Result<()> {
    let total = STEPS.len();
    let mut times = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let name = step.name();
        println!("\n==> xtask ci [{}/{total}] {name}", i + 1);
        let start = Instant::now();
        if let Err(e) = step.run() {
            bail!("ci step {}/{total} `{name}` failed:\n  {e}", i + 1);
        }
        times.push(format!("{:.0}s", start.elapsed().as_secs_f64()));
    }
    println!(
        "\nxtask ci: all {total} steps passed (step times: {})",
        times.join(", ")
    );
    Ok(())
}
