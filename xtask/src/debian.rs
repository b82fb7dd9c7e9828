//! Installing the Debian/Ubuntu packages a task needs when what they provide
//! is missing: promtool and python3-venv for `ci`, wrk and nginx for `bench`.
//!
//! apt-get runs as root, or through `sudo` when we are not root (CI runners
//! and most developer machines); with neither, or without apt-get, the error
//! names the command to run by hand. `apt-get update` runs once per process,
//! before the first install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cmd::{is_root, which, Hint, Run};
use crate::error::{bail, Result};

/// Where `program` is: on PATH, or in /usr/sbin or /sbin (nginx is there,
/// and a user's PATH may lack those).
pub fn find_program(program: &str) -> Option<PathBuf> {
    which(program).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|dir| Path::new(dir).join(program))
            .find(|p| p.is_file())
    })
}

/// Make sure `program` exists (see [`find_program`]); if not, install it with
/// Debian's `package`. Returns its path.
pub fn ensure_program(program: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = find_program(program) {
        return Ok(path);
    }
    install(&[package], &format!("`{program}` is not installed"))?;
    match find_program(program) {
        Some(path) => Ok(path),
        None => bail!("apt-get installed {package} but `{program}` is still not on PATH"),
    }
}

/// `apt-get install -y --no-install-recommends <packages>`, as root or with
/// sudo. `why` says what is missing, for the messages.
///
/// Packages that ship a service (nginx, prometheus) would start it from their
/// postinst: while apt-get runs, a `policy-rc.d` that forbids every start is
/// put in place unless one exists already (Debian's way, see invoke-rc.d(8)),
/// so the install neither starts a daemon nor fails where it cannot start one
/// (a container without an init system, a port taken). No task uses such a
/// service: the benchmark starts its own nginx, the tests only run promtool.
pub fn install(packages: &[&str], why: &str) -> Result<()> {
    let list = packages.join(" ");
    let by_hand = format!(
        "`apt-get update && apt-get install -y --no-install-recommends {list}` \
         (Debian/Ubuntu), then re-run"
    );
    if which("apt-get").is_none() {
        bail!(
            "{why}, and there is no apt-get to install Debian's {list} with\n  \
             hint: install what {list} provides with the system's package manager, then re-run"
        );
    }
    let sudo = match (is_root(), which("sudo")) {
        (true, _) => false,
        (false, Some(_)) => true,
        (false, None) => bail!(
            "{why}, and {list} cannot be installed: we are not root and there is no sudo\n  \
             hint: as root, run {by_hand}"
        ),
    };
    let note = if sudo {
        " with sudo (it may ask for your password)"
    } else {
        ""
    };
    println!("xtask: {why}: installing Debian's {list}{note}");
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        as_root(sudo, "apt-get")
            .args(["update", "-qq"])
            .run()
            .hint(format_args!(
                "check access to the Debian mirrors, or as root, run {by_hand}"
            ))?;
    }
    let _no_services = NoServiceStarts::install(sudo)?;
    as_root(sudo, "env")
        .args(["DEBIAN_FRONTEND=noninteractive", "apt-get", "install"])
        .args(["-q", "-y", "--no-install-recommends"])
        .args(packages)
        .run()
        .hint(format_args!("install {list} by hand, then re-run"))
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// `program` as root: as it is when we are root, through `sudo` when not.
fn as_root(sudo: bool, program: &str) -> Command {
    let mut cmd = Command::new(if sudo { "sudo" } else { program });
    if sudo {
        cmd.arg(program);
    }
    cmd
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// A temporary `/usr/sbin/policy-rc.d` answering 101 (action forbidden),
/// removed on drop; nothing when the file exists already.
struct NoServiceStarts {
    /// Whether it was written, and with sudo.
    written: Option<bool>,
}

impl NoServiceStarts {
    fn install(sudo: bool) -> Result<NoServiceStarts> {
        let path = Path::new(POLICY_RC_D);
        if path.exists() || !path.parent().is_some_and(Path::is_dir) {
            return Ok(NoServiceStarts { written: None });
        }
        let script = "#!/bin/sh\n\
                      # Written by cargo xtask while apt-get runs: packages start no service.\n\
                      exit 101\n";
        let write = format!("printf '{script}' > {POLICY_RC_D} && chmod 0755 {POLICY_RC_D}");
        as_root(sudo, "sh").args(["-c", &write]).run()?;
        Ok(NoServiceStarts {
            written: Some(sudo),
        })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(sudo) = self.written {
            if let Err(e) = as_root(sudo, "rm").args(["-f", POLICY_RC_D]).run() {
                eprintln!("xtask: could not remove the temporary {POLICY_RC_D}: {e}");
            }
        }
    }
}
