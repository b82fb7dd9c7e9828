//! Django's in-process rate: `xtask/scripts/inprocess.py` calls the WSGI
//! callable in a loop with no server around it.

use crate::cmd::{Hint, Run};
use crate::error::{bail, Result};
use crate::{paths, venv::Venv};

pub fn run(venv: &Venv, path: &str, seconds: u64, cpus: Option<&str>) -> Result<f64> {
    let script = paths::root()
        .join("xtask")
        .join("scripts")
        .join("inprocess.py");
    let mut cmd = super::server::pinned(cpus, venv.python());
    venv.activate(&mut cmd);
    cmd.arg(&script)
        .args(["--path", path, "--seconds", &seconds.to_string()])
        .current_dir(paths::example_project());
    let out = cmd
        .read()
        .hint("the in-process benchmark could not run the example project's WSGI callable")?;
    for line in out.lines() {
        if !line.starts_with("rps=") {
            println!("xtask bench: {line}");
        }
    }
    match out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rps="))
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        Some(rps) => Ok(rps),
        None => bail!("{} printed no `rps=` line:\n{out}", script.display()),
    }
}
