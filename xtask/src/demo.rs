//! `cargo xtask demo`: from a fresh checkout to the example project being
//! served: venv with Django, release build, migrate, then `hurricane serve`
//! (which collects the static files and serves them too).

use std::process::Command;

use crate::cmd::{cargo, Hint, Run};
use crate::error::Result;
use crate::{paths, venv};

#[derive(clap::Args)]
pub struct Args {
    /// Port to serve on.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Extra arguments for `hurricane serve`, after `--`.
    #[arg(last = true)]
    extra: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    phase(1, "Python venv target/venv (requirements/example.txt)");
    let venv = venv::ensure("example.txt")?;
    phase(
        2,
        "building target/release/hurricane (cargo build --release: a few minutes \
         on a cold checkout, seconds once built)",
    );
    build_release()?;
    let project = paths::example_project();
    phase(3, "manage.py migrate in examples/mysite");
    migrate(&venv, &project)?;
    phase(4, "hurricane serve");

    let bin = paths::hurricane_bin();
    let mut serve = Command::new(&bin);
    serve
        .args(["serve", "--port", &args.port.to_string()])
        // The project's static files, collected into STATIC_ROOT at start-up and
        // served by hurricane itself.
        .args(["--command", "collectstatic --noinput", "--static"])
        .args(&args.extra)
        .current_dir(&project);
    venv.activate(&mut serve);
    println!(
        "xtask: serving {} — try: curl http://127.0.0.1:{port}/hello or \
         curl -I http://127.0.0.1:{port}/static/demo/site.css (Ctrl-C stops)",
        project.display(),
        port = args.port
    );
    println!("xtask: $ {}", serve.line());
    Err(serve.exec_in_place())
}

/// One line before each phase, so a cold run (minutes, most of it the
/// release build) says what it is doing.
fn phase(n: usize, what: &str) {
    println!("\n==> xtask demo [{n}/4] {what}");
}

pub fn build_release() -> Result<()> {
    cargo()
        .args(["build", "--release", "-p", "hurricane-cli"])
        .run()
        .hint("the release build of the hurricane binary failed; see the compiler output above")
}

/// `manage.py migrate --noinput` in the example project.
pub fn migrate(venv: &venv::Venv, project: &std::path::Path) -> Result<()> {
    venv.cmd("python")
        .args(["manage.py", "migrate", "--noinput"])
        .current_dir(project)
        .run()
        .hint(format_args!(
            "migrating the example project in {} failed",
            project.display()
        ))
}
