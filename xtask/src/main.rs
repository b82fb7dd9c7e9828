//! `cargo xtask <task>`: the developer tasks of the hurricane workspace.
//!
//! Every task is a module; `cmd` runs programs with clear errors, `venv`
//! manages the shared Python virtualenv in `target/venv`, and `debian`
//! installs the system packages a task needs when they are missing.

mod bench;
mod ci;
mod cmd;
mod debian;
mod demo;
mod dist;
mod error;
mod k8s_sim;
mod paths;
mod venv;
mod wheel;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for hurricane",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Create or refresh target/venv from the pinned requirements/ files.
    Venv {
        /// Which requirements file to install (example.txt, test.txt, bench.txt;
        /// django-hurricane.txt goes to its own target/venv-django-hurricane).
        #[arg(long, default_value = "test.txt")]
        requirements: String,
    },
    /// Set up and serve the example Django project on a fresh machine.
    Demo(demo::Args),
    /// Run every check and test, as CI does.
    Ci,
    /// Benchmark hurricane against gunicorn, granian, uvicorn and Django in-process,
    /// its probe latency under load against django-hurricane, its static
    /// files against nginx and whitenoise, and its autoreload against runserver.
    Bench(Box<bench::Args>),
    /// Build the release: the wheels and the binary tarball, in target/dist/.
    Dist,
    /// Build and check the Python package's wheels (target/wheels/).
    Wheel(wheel::Args),
    /// Roll, scale and break a simulated Kubernetes Deployment of real hurricane
    /// pods (deploy/kubernetes/), under load, and print the failed requests.
    K8sSim(k8s_sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Venv { requirements } => venv::ensure(&requirements).map(|v| {
            println!("xtask: venv ready at {}", v.dir().display());
        }),
        Task::Demo(args) => demo::run(args),
        Task::Ci => ci::run(),
        Task::Bench(args) => bench::run(*args),
        Task::Dist => dist::run(),
        Task::Wheel(args) => wheel::run(args),
        Task::K8sSim(args) => k8s_sim::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
