//! `cargo xtask k8s-sim`: the Kubernetes simulation of `tests/kubernetes/` at full
//! length (the manifests' own seconds), its table printed: a kubelet, endpoints
//! controller, kube-proxy and Deployment controller driven by `deploy/kubernetes/`,
//! with real hurricane pods (and django-hurricane's, for the rolling update) on
//! loopback. The test suite runs the same scenarios shortened.

use crate::cmd::{Hint, Run};
use crate::error::Result;
use crate::{demo, paths, venv};

#[derive(clap::Args)]
pub struct Args {
    /// Passed to `python -m tests.kubernetes` (`--short`, `--scenarios rolling,scale`,
    /// `--servers hurricane`, `--seed N`; `-- --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    options: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    demo::build_release()?;
    let venv = venv::ensure("test.txt")?;
    venv::ensure(venv::DJANGO_HURRICANE)?;
    venv.cmd("python")
        .args(["-m", "tests.kubernetes"])
        .args(&args.options)
        .env("HURRICANE_BIN", paths::hurricane_bin())
        .current_dir(paths::root())
        .run()
        .hint("a scenario that must lose no request lost one, or the simulation failed: see above")
}
