//! Running external programs ([`Command`]s, through [`Run`]) with error
//! messages that name the command line, its exit status and, with [`Hint`],
//! what to do about it. xtask runs on Linux only (apt-get, taskset, kill).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::error::{bail, Error, Result};

/// `cargo`, the one running us when started through `cargo xtask`, in the
/// workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate::paths::root());
    cmd
}

/// What xtask does with a [`Command`]; every error names the command line.
pub trait Run {
    /// The command line as a user would type it (`$CARGO` shown as `cargo`,
    /// so messages can be copied and run).
    fn line(&self) -> String;
    /// Run with inherited stdio; error unless it exits 0.
    fn run(&mut self) -> Result<()>;
    /// Run with inherited stdio and return the exit status, whatever it is.
    fn run_status(&mut self) -> Result<ExitStatus>;
    /// Run capturing stdout (returned) and stderr (shown on failure).
    fn read(&mut self) -> Result<String>;
    fn start(&mut self) -> Result<Child>;
    /// Replace this process with the command; only returns on error.
    fn exec_in_place(&mut self) -> Error;
}

impl Run for Command {
    fn line(&self) -> String {
        let program = self.get_program();
        let cargo = std::env::var_os("CARGO").is_some_and(|c| c == program);
        let mut s = if cargo {
            "cargo".to_string()
        } else {
            shell_word(program)
        };
        for a in self.get_args() {
            s.push(' ');
            s.push_str(&shell_word(a));
        }
        s
    }

    fn run(&mut self) -> Result<()> {
        let status = self.run_status()?;
        if !status.success() {
            bail!("`{}` failed ({})", self.line(), describe(status));
        }
        Ok(())
    }

    fn run_status(&mut self) -> Result<ExitStatus> {
        self.status().map_err(|e| start_error(self, e))
    }

    fn read(&mut self) -> Result<String> {
        let out = self
            .stdin(Stdio::null())
            .output()
            .map_err(|e| start_error(self, e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "`{}` failed ({}){}",
                self.line(),
                describe(out.status),
                indent_output(&stderr)
            );
        }
        match String::from_utf8(out.stdout) {
            Ok(s) => Ok(s),
            Err(_) => bail!("`{}` printed output that is not UTF-8", self.line()),
        }
    }

    fn start(&mut self) -> Result<Child> {
        self.spawn().map_err(|e| start_error(self, e))
    }

    fn exec_in_place(&mut self) -> Error {
        let e = self.exec();
        start_error(self, e)
    }
}

/// Advice added to a command's error: `"...\n  hint: <advice>"`.
pub trait Hint<T> {
    fn hint(self, advice: impl std::fmt::Display) -> Result<T>;
}

impl<T> Hint<T> for Result<T> {
    fn hint(self, advice: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{e}\n  hint: {advice}")))
    }
}

fn start_error(cmd: &Command, e: std::io::Error) -> Error {
    let extra = if e.kind() == std::io::ErrorKind::NotFound {
        let program = cmd.get_program().to_string_lossy();
        format!(" (is `{program}` installed and on PATH?)")
    } else {
        String::new()
    };
    Error::new(format!("could not start `{}`: {e}{extra}", cmd.line()))
}

/// "exit status 3" or "killed by signal 9".
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

fn indent_output(s: &str) -> String {
    let s = s.trim_end();
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for line in s.lines() {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}

fn shell_word(w: &OsStr) -> String {
    let s = w.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Find an executable on PATH, like `command -v`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True when running as root (uid 0), read from `id -u`.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .read()
        .is_ok_and(|s| s.trim() == "0")
}
