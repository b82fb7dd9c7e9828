//! Running external programs with error messages that name the command,
//! its exit status and a hint.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::error::{bail, Error, Result};

/// A [`Command`] that remembers how to print itself.
pub struct Cmd {
    inner: Command,
    program: OsString,
    args: Vec<OsString>,
    hint: Option<String>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref().to_os_string();
        Cmd {
            inner: Command::new(&program),
            program,
            args: Vec::new(),
            hint: None,
        }
    }

    /// `cargo`, the one running us when started through `cargo xtask`.
    pub fn cargo() -> Self {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Cmd::new(cargo);
        // Shown as plain `cargo` so messages can be copied and run.
        cmd.program = "cargo".into();
        cmd.dir(crate::paths::root());
        cmd
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_os_string());
        self.inner.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, val);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    pub fn dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }

    pub fn stdout(&mut self, s: Stdio) -> &mut Self {
        self.inner.stdout(s);
        self
    }

    pub fn stderr(&mut self, s: Stdio) -> &mut Self {
        self.inner.stderr(s);
        self
    }

    /// Advice printed when the command cannot be started or fails.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// The command line as a user would type it.
    pub fn display(&self) -> String {
        let mut s = shell_word(&self.program);
        for a in &self.args {
            s.push(' ');
            s.push_str(&shell_word(a));
        }
        s
    }

    fn with_hint(&self, msg: String) -> Error {
        match &self.hint {
            Some(h) => Error::new(format!("{msg}\n  hint: {h}")),
            None => Error::new(msg),
        }
    }

    fn start_error(&self, e: std::io::Error) -> Error {
        let extra = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                " (is `{}` installed and on PATH?)",
                self.program.to_string_lossy()
            )
        } else {
            String::new()
        };
        self.with_hint(format!("could not start `{}`: {e}{extra}", self.display()))
    }

    /// Run with inherited stdio; error unless it exits 0.
    pub fn run(&mut self) -> Result<()> {
        let status = self.status()?;
        if !status.success() {
            return Err(self.with_hint(format!(
                "`{}` failed ({})",
                self.display(),
                describe(status)
            )));
        }
        Ok(())
    }

    /// Run with inherited stdio and return the exit status, whatever it is.
    pub fn status(&mut self) -> Result<ExitStatus> {
        self.inner.status().map_err(|e| self.start_error(e))
    }

    /// Run capturing stdout (returned) and stderr (shown on failure).
    pub fn read(&mut self) -> Result<String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.start_error(e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(self.with_hint(format!(
                "`{}` failed ({}){}",
                self.display(),
                describe(out.status),
                indent_output(&stderr)
            )));
        }
        match String::from_utf8(out.stdout) {
            Ok(s) => Ok(s),
            Err(_) => bail!("`{}` printed output that is not UTF-8", self.display()),
        }
    }

    pub fn spawn(&mut self) -> Result<Child> {
        self.inner.spawn().map_err(|e| self.start_error(e))
    }

    /// Replace this process with the command (Unix `exec`); only returns on error.
    #[cfg(unix)]
    pub fn exec(&mut self) -> Error {
        use std::os::unix::process::CommandExt;
        let e = self.inner.exec();
        self.start_error(e)
    }

    /// Elsewhere: run it and exit with its status.
    #[cfg(not(unix))]
    pub fn exec(&mut self) -> Error {
        match self.status() {
            Ok(s) => std::process::exit(s.code().unwrap_or(1)),
            Err(e) => e,
        }
    }
}

/// "exit status 3" or "killed by signal 9".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    status.to_string()
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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// True when running as root (uid 0), read from `id -u`.
pub fn is_root() -> bool {
    Cmd::new("id")
        .arg("-u")
        .read()
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}
