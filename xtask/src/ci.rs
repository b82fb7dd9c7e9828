//! `cargo xtask ci`: every check and test, in the order CI runs them.
//! Stops at the first failing step and names it.

use std::time::Instant;

use crate::cmd::{describe, which, Cmd};
use crate::error::{bail, Result};
use crate::{debian, demo, paths, venv};

struct Step {
    name: &'static str,
    run: fn() -> Result<()>,
}

const STEPS: &[Step] = &[
    Step {
        name: "system packages: python3 with venv and headers, promtool",
        run: system_packages,
    },
    Step {
        name: "cargo fmt --all --check",
        run: || {
            Cmd::cargo()
                .args(["fmt", "--all", "--check"])
                .hint("run `cargo fmt --all` and commit the result")
                .run()
        },
    },
    Step {
        name: "cargo clippy --workspace --all-targets -- -D warnings",
        run: || {
            Cmd::cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .hint("fix the lints above")
                .run()
        },
    },
    Step {
        name: "cargo test --workspace",
        run: || Cmd::cargo().args(["test", "--workspace"]).run(),
    },
    Step {
        name: "cargo build --release -p hurricane-cli",
        run: demo::build_release,
    },
    Step {
        name: "venv (requirements/test.txt)",
        run: || venv::ensure("test.txt").map(drop),
    },
    Step {
        name: "pytest tests",
        run: pytest,
    },
];

/// What the build and the tests need from the system, installed from
/// Debian's packages where missing (as root or with sudo): first, so that a
/// machine where that is not possible learns it before a long build.
fn system_packages() -> Result<()> {
    venv::ensure_host_python()?;
    let version = Cmd::new("python3").arg("--version").read()?;
    let path = which("python3").unwrap_or_default();
    println!("xtask: {} at {}", version.trim(), path.display());
    // tests/test_metrics.py lints /metrics with `promtool check metrics`.
    let promtool = debian::ensure_program("promtool", "prometheus")?;
    println!("xtask: promtool at {}", promtool.display());
    Ok(())
}

fn pytest() -> Result<()> {
    let venv = venv::ensure("test.txt")?;
    let mut cmd = venv.cmd("python");
    cmd.args(["-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"])
        .env("HURRICANE_BIN", paths::hurricane_bin())
        // The release build has every feature: no test may be skipped for lack of one.
        .env("HURRICANE_EXPECT_FEATURES", "probe reload static webhook")
        .dir(paths::root());
    let status = cmd.status()?;
    match status.code() {
        Some(0) => Ok(()),
        Some(5) => bail!("pytest collected no tests in tests/ (exit status 5)"),
        _ => bail!("`{}` failed ({})", cmd.display(), describe(status)),
    }
}

pub fn run() -> Result<()> {
    let total = STEPS.len();
    let mut times = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        println!("\n==> xtask ci [{}/{total}] {}", i + 1, step.name);
        let start = Instant::now();
        if let Err(e) = (step.run)() {
            bail!("ci step {}/{total} `{}` failed:\n  {e}", i + 1, step.name);
        }
        times.push(format!("{:.0}s", start.elapsed().as_secs_f64()));
    }
    println!(
        "\nxtask ci: all {total} steps passed (step times: {})",
        times.join(", ")
    );
    Ok(())
}
