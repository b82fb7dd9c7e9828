//! One server under test: how each program is started, on free loopback ports
//! with its output in a log file; polled until it answers; stopped with SIGTERM.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::http::{self, loopback};
use crate::cmd::{describe, Run};
use crate::error::{bail, Context, Result};
use crate::paths;
use crate::venv::Venv;

/// The two ports a server gets: the app's and the probes' (hurricane's
/// `--probe-port`, django-hurricane's too), never the same.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub app: u16,
    pub probe: u16,
}

impl Ports {
    /// Two ports nobody listens on right now: bound at once, so they differ,
    /// then released (there is a small window for another process to take one).
    pub fn free() -> Result<Ports> {
        let bind =
            || TcpListener::bind("127.0.0.1:0").context(|| "could not bind 127.0.0.1:0".into());
        let (app, probe) = (bind()?, bind()?);
        let port = |l: TcpListener| l.local_addr().map(|a| a.port());
        let read = || "could not read the address of a bound socket".to_string();
        Ok(Ports {
            app: port(app).context(read)?,
            probe: port(probe).context(read)?,
        })
    }
}

/// `program`, under `taskset -c <cpus>` when pinning.
pub fn pinned(cpus: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// `program` in the example project with `venv` active, pinned to `cpus`.
pub fn in_project(venv: &Venv, cpus: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    let mut c = pinned(cpus, program);
    venv.activate(&mut c);
    c.current_dir(paths::example_project());
    c
}

/// `hurricane serve <options> --host 127.0.0.1 --port P --probe-port Q`;
/// `probe_port` "0" lets the OS pick one (port + 1 may be taken).
pub fn hurricane(
    venv: &Venv,
    cpus: Option<&str>,
    options: &[&str],
    port: u16,
    probe_port: &str,
) -> Command {
    let mut c = in_project(venv, cpus, paths::hurricane_bin());
    c.arg("serve");
    serve_options(&mut c, options, port, probe_port);
    c
}

/// hurricane with its defaults, started by its Python package: `python manage.py
/// serve --host 127.0.0.1 --port P --probe-port 0` with the package in `venv`.
pub fn manage_py_serve(venv: &Venv, cpus: Option<&str>, port: u16) -> Command {
    let mut c = in_project(venv, cpus, venv.python());
    c.args(["manage.py", "serve", "--settings", MANAGE_PY_SERVE_SETTINGS]);
    serve_options(&mut c, &[], port, "0");
    c
}

/// The example project's settings with the `hurricane` app, whose `serve` command
/// both hurricane's Python package and django-hurricane provide.
pub const MANAGE_PY_SERVE_SETTINGS: &str = "mysite.settings_manage_py_serve";

fn serve_options(c: &mut Command, options: &[&str], port: u16, probe_port: &str) {
    c.args(options)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--probe-port", probe_port]);
}

/// `gunicorn <options> -b 127.0.0.1:P mysite.wsgi`, e.g. `-w 1`: sync, one worker.
pub fn gunicorn(venv: &Venv, cpus: Option<&str>, options: &[&str], port: u16) -> Command {
    let mut c = in_project(venv, cpus, venv.bin("gunicorn"));
    c.args(options)
        .args(["-b", &format!("127.0.0.1:{port}"), "mysite.wsgi"]);
    c
}

pub struct Server {
    pub name: String,
    pub ports: Ports,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Server {
    /// Spawn `cmd` (already set up with ports, cwd and environment),
    /// sending its stdout and stderr to `log`.
    pub fn start(name: &str, ports: Ports, mut cmd: Command, log: PathBuf) -> Result<Server> {
        let file = File::create(&log).context(|| format!("could not create {}", log.display()))?;
        let file2 = file
            .try_clone()
            .context(|| format!("could not reopen {}", log.display()))?;
        cmd.stdout(Stdio::from(file)).stderr(Stdio::from(file2));
        println!("xtask bench: starting {name}: {}", cmd.line());
        let child = cmd.start()?;
        Ok(Server {
            name: name.to_string(),
            ports,
            child: Some(child),
            log,
        })
    }

    /// The CPU time (user + system) the started process itself has used so
    /// far, its children not included: utime + stime of `/proc/<pid>/stat`.
    /// Under `--pin` it is taskset's pid, which taskset replaced with the server.
    pub fn cpu_time(&self) -> Result<Duration> {
        let Some(child) = &self.child else {
            bail!(
                "{} is not running, so its CPU time cannot be read",
                self.name
            );
        };
        let path = format!("/proc/{}/stat", child.id());
        let stat = fs::read_to_string(&path).context(|| format!("could not read {path}"))?;
        let Some(ticks) = cpu_ticks(&stat) else {
            bail!("{path} has no utime and stime fields: {stat:?}");
        };
        let per_second = clock_ticks_per_second()?;
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.app)
    }

    /// Poll `GET path` on `port` until it answers 200, the process exits, or `timeout`.
    pub fn wait_ready(&mut self, port: u16, path: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            self.ensure_running("before it was ready")?;
            let last = http::get(loopback(port), path, "", Duration::from_secs(5));
            if last.as_ref().is_ok_and(|r| r.status == 200) {
                println!(
                    "xtask bench: {} ready on port {port} after {:.1}s",
                    self.name,
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} gave no 200 on GET {path} on port {port} within {}s ({}); {}",
                    self.name,
                    timeout.as_secs(),
                    http::describe(&last),
                    self.output()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// An error with the end of the log if the process has exited;
    /// `when` says when, e.g. "before it was ready".
    pub fn ensure_running(&mut self, when: &str) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                bail!(
                    "{} exited {when} ({}); {}",
                    self.name,
                    describe(status),
                    self.output()
                );
            }
        }
        Ok(())
    }

    /// SIGTERM, up to 15 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(50));
            }
            eprintln!(
                "xtask bench: {} ignored SIGTERM for 15s, killing it",
                self.name
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `"its output (<log>):"` and the last 30 lines of it, indented.
    pub fn output(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        let tail: String = tail.iter().map(|l| format!("    {l}\n")).collect();
        format!("its output ({}):\n{tail}", self.log.display())
    }
}

/// utime + stime, fields 14 and 15 of a `/proc/<pid>/stat` line, in clock
/// ticks. The fields are counted after the command name's closing parenthesis
/// (the name may hold spaces and parentheses itself).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // after_name starts with field 3 (the state): utime is the 12th field of it.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The unit of `/proc/<pid>/stat`'s times (USER_HZ, 100 on Linux's usual
/// architectures), read with `getconf CLK_TCK`: xtask links no libc to ask sysconf.
fn clock_ticks_per_second() -> Result<u64> {
    let out = Command::new("getconf").arg("CLK_TCK").read()?;
    match out.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`getconf CLK_TCK` printed {out:?}, not a number of clock ticks per second"),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_after_the_name() {
        let stat = "4242 (hurricane (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    350 47 0 0 20 0 3 0 1234567 123456789 2048";
        assert_eq!(cpu_ticks(stat), Some(397));
        assert_eq!(cpu_ticks("4242 (hurricane) S 1 2"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn cpu_time_counts_what_the_process_computed() {
        // A shell that counts for a while, then waits without computing.
        let mut cmd = Command::new("sh");
        let script =
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo counted; exec sleep 60";
        cmd.args(["-c", script]);
        let log = std::env::temp_dir().join(format!("xtask-cpu-time-{}.log", std::process::id()));
        let ports = Ports { app: 0, probe: 0 };
        let mut srv = Server::start("sh", ports, cmd, log.clone()).expect("sh starts");
        let start = Instant::now();
        while !fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("counted")
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "sh never finished counting"
            );
            sleep(Duration::from_millis(20));
        }
        let used = srv.cpu_time().expect("its /proc/<pid>/stat is readable");
        assert!(used > Duration::ZERO, "counting used no CPU time: {used:?}");
        srv.stop();
        assert!(
            srv.cpu_time().is_err(),
            "a stopped server has no CPU time to read"
        );
        let _ = fs::remove_file(log);
    }
}
