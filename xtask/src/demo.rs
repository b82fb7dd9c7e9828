//! `cargo xtask demo`: from a fresh checkout to the example project being
//! served: venv with Django, release build, migrate, then `hurricane serve`
//! (which collects the static files and serves them too).

use crate::cmd::Cmd;
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
    let venv = venv::ensure("example.txt")?;
    build_release()?;
    let project = paths::example_project();
    migrate(&venv, &project)?;

    let bin = paths::hurricane_bin();
    let mut serve = Cmd::new(&bin);
    serve
        .args(["serve", "--port", &args.port.to_string()])
        // The project's static files, collected into STATIC_ROOT at start-up and
        // served by hurricane itself.
        .args(["--command", "collectstatic --noinput", "--static"])
        .args(&args.extra)
        .dir(&project);
    venv.activate(&mut serve);
    println!(
        "xtask: serving {} — try: curl http://127.0.0.1:{port}/hello or \
         curl -I http://127.0.0.1:{port}/static/demo/site.css (Ctrl-C stops)",
        project.display(),
        port = args.port
    );
    println!("xtask: $ {}", serve.display());
    Err(serve.exec())
}

pub fn build_release() -> Result<()> {
    Cmd::cargo()
        .args(["build", "--release", "-p", "hurricane-cli"])
        .hint("the release build of the hurricane binary failed; see the compiler output above")
        .run()
}

/// `manage.py migrate --noinput` in the example project.
pub fn migrate(venv: &venv::Venv, project: &std::path::Path) -> Result<()> {
    venv.cmd("python")
        .args(["manage.py", "migrate", "--noinput"])
        .dir(project)
        .hint(format!(
            "migrating the example project in {} failed",
            project.display()
        ))
        .run()
}
