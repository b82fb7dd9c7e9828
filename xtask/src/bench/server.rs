//! One server under test: started on a free loopback port with its output
//! in a log file, polled until it answers, stopped with SIGTERM.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cmd::{describe, Cmd};
use crate::error::{bail, Context, Result};

pub struct Server {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// A port nobody listens on right now (the OS picks it; we release it
/// immediately, so there is a small window for another process to take it).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .context(|| "could not bind a free port on 127.0.0.1".to_string())?;
    let port = listener
        .local_addr()
        .context(|| "could not read the address of a bound socket".to_string())?
        .port();
    Ok(port)
}

impl Server {
    /// Spawn `cmd` (already set up with port, cwd and environment),
    /// sending its stdout and stderr to `log`.
    pub fn start(name: &str, port: u16, mut cmd: Cmd, log: PathBuf) -> Result<Server> {
        let file = File::create(&log).context(|| format!("could not create {}", log.display()))?;
        let file2 = file
            .try_clone()
            .context(|| format!("could not reopen {}", log.display()))?;
        cmd.stdout(Stdio::from(file)).stderr(Stdio::from(file2));
        println!("xtask bench: starting {name}: {}", cmd.display());
        let child = cmd.spawn()?;
        Ok(Server {
            name: name.to_string(),
            port,
            child: Some(child),
            log,
        })
    }

    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Poll `GET path` until it answers 200, the process exits, or `timeout`.
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            self.ensure_running("before it was ready")?;
            if answers_200(self.port, path) {
                println!(
                    "xtask bench: {} ready on port {} after {:.1}s",
                    self.name,
                    self.port,
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} did not answer 200 on {} within {}s; its output ({}):\n{}",
                    self.name,
                    self.url(path),
                    timeout.as_secs(),
                    self.log.display(),
                    self.log_tail()
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
                    "{} exited {when} ({}); its output ({}):\n{}",
                    self.name,
                    describe(status),
                    self.log.display(),
                    self.log_tail()
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
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = child.id().to_string();
        let termed = Cmd::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
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

    /// The last 30 lines of the server's output, indented.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        tail.iter().map(|l| format!("    {l}\n")).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answers_200(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    // Drain the rest so the server is not reset mid-write.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    &head[..] == b"HTTP/1.1 200" || &head[..] == b"HTTP/1.0 200"
}
