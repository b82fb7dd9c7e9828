//! The static-file scenario (README.md, "static"): `demo/site.css` and a
//! 100 KB file from `STATIC_ROOT` (`target/bench/staticfiles`, filled by
//! `collectstatic --clear`), served in turn by hurricane (`serve --static`),
//! nginx and whitenoise under gunicorn, DEBUG off, each measured with wrk.
//! Each file is first fetched and compared with the disk, so a 404 is never
//! what gets measured. nginx runs in the foreground with a configuration of
//! its own (`xtask/templates/nginx.conf`) and every path under
//! `target/bench`: it never touches the system's nginx service or its files.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use super::http::{self, loopback, Response};
use super::scenario::{self, find, Needs, Plan, Scenario, ServerRuns, Table};
use super::server::{self, pinned, Ports, Server};
use super::wrk::{self, median_report};
use super::{times, versions, BenchServer, Ctx};
use crate::cmd::{is_root, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::paths;
use crate::venv::Venv;

/// The URL path of `STATIC_URL = "static/"` in the example project.
const URL_PREFIX: &str = "/static/";

/// The files measured, by their path under `STATIC_ROOT`: the demo app's
/// stylesheet (1.4 KB) and the file [`prepare_static_root`] writes.
const FILES: [&str; 2] = ["demo/site.css", "bench-100k.js"];
/// Indexes into [`FILES`].
const SMALL: usize = 0;
const LARGE: usize = 1;
const LARGE_LEN: usize = 100 * 1024;

/// What hurricane's build must have for this scenario.
const NEEDS: Needs = Some(("static", "serves no static files"));

#[derive(Parser)]
pub struct Args {
    /// Servers measured, in order (comma separated).
    #[arg(
        long,
        alias = "static-servers",
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,nginx,whitenoise"
    )]
    pub servers: Vec<StaticServer>,
    /// wrk connections.
    #[arg(short = 'c', long, alias = "static-connections", default_value_t = 32)]
    connections: u32,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum StaticServer {
    Hurricane,
    Nginx,
    Whitenoise,
}

impl BenchServer for StaticServer {
    const HURRICANE: Self = StaticServer::Hurricane;
}

/// A ratio hurricane's req/s must reach against a peer on one file: (file,
/// peer, ratio, strict: `>` rather than `>=`).
type Target = (usize, StaticServer, f64, bool);

/// At least 0.8x nginx's req/s on the small file and ahead of whitenoise by
/// more than 10x on both files.
const TARGETS: [Target; 3] = [
    (SMALL, StaticServer::Nginx, 0.8, false),
    (SMALL, StaticServer::Whitenoise, 10.0, true),
    (LARGE, StaticServer::Whitenoise, 10.0, true),
];

/// wrk's reports of every round, per file.
type PerFile = [Vec<wrk::Report>; 2];

/// The median over the rounds of one file.
fn median_of(per_file: Option<&PerFile>, file: usize) -> Option<wrk::Report> {
    let list = &per_file?[file];
    (!list.is_empty()).then(|| median_report(list))
}

struct Static<'a> {
    args: &'a Args,
    ctx: &'a Ctx,
    /// `STATIC_ROOT`, and the files in it as they are on disk, to check each
    /// server's answer against.
    root: PathBuf,
    contents: Vec<Vec<u8>>,
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<()> {
    let root = ctx.logs.join("staticfiles");
    let contents = prepare_static_root(&ctx.venv, &root)?;
    let small = format!("{URL_PREFIX}{}", FILES[SMALL]);
    let plan = Plan::new("static files", &args.servers, NEEDS, "static", small);
    let scenario = Static {
        args,
        ctx,
        root,
        contents,
    };
    scenario::run(&scenario, plan, ctx)
}

/// `collectstatic --clear` into `dir`, then the 100 KB file next to what it
/// collected; returns the contents every server must answer with.
fn prepare_static_root(venv: &Venv, dir: &Path) -> Result<Vec<Vec<u8>>> {
    let shown = dir.display();
    println!("xtask bench: collecting the static files into {shown}");
    let mut collect = venv.cmd("python");
    collect
        .args(["manage.py", "collectstatic", "--noinput", "--clear", "-v0"])
        .current_dir(paths::example_project());
    django_env(&mut collect, dir);
    collect.run().hint(format_args!(
        "collecting the example project's static files into {shown} failed"
    ))?;
    let large = dir.join(FILES[LARGE]);
    fs::write(&large, bench_js(LARGE_LEN))
        .context(|| format!("could not write {}", large.display()))?;
    FILES
        .iter()
        .map(|f| fs::read(dir.join(f)).context(|| format!("could not read {shown}/{f}")))
        .collect()
}

/// The example project's environment for the scenario: DEBUG off (whatever
/// the caller's shell says) and `STATIC_ROOT` = `static_root`.
fn django_env(cmd: &mut Command, static_root: &Path) {
    cmd.env("DJANGO_STATIC_ROOT", static_root)
        .env("DJANGO_DEBUG", "0");
}

/// `len` bytes of JavaScript, the same on every run: a comment, `const`
/// lines of pseudo-random letters (so it looks like a minified bundle, not
/// one repeated byte), and a comment line padding it to the exact length.
fn bench_js(len: usize) -> Vec<u8> {
    let mut out = b"/* bench-100k.js: written by `cargo xtask bench static`. */\n".to_vec();
    let mut seed: u32 = 0x2545_f491;
    for i in 0.. {
        let mut line = format!("const b{i:05} = \"");
        for _ in 0..64 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            line.push(char::from(b'a' + (seed >> 24) as u8 % 26));
        }
        line.push_str("\";\n");
        // Always leave room for the padding comment ("//" and "\n").
        if out.len() + line.len() + 3 > len {
            break;
        }
        out.extend_from_slice(line.as_bytes());
    }
    let pad = len.saturating_sub(out.len() + 3);
    out.extend_from_slice(b"//");
    out.extend(std::iter::repeat_n(b'-', pad));
    out.push(b'\n');
    out
}

impl Scenario for Static<'_> {
    type Server = StaticServer;
    type Measured = PerFile;

    fn command(&self, server: StaticServer, ports: Ports) -> Result<Command> {
        let (venv, cpus) = (&self.ctx.venv, self.ctx.pin.server.as_deref());
        let mut cmd = match server {
            StaticServer::Hurricane => server::hurricane(venv, cpus, &["--static"], ports.app, "0"),
            StaticServer::Nginx => return self.nginx(ports.app),
            StaticServer::Whitenoise => {
                let mut c = server::gunicorn(venv, cpus, &["-w", "1"], ports.app);
                c.env("DJANGO_SETTINGS_MODULE", "mysite.settings_whitenoise");
                c
            }
        };
        django_env(&mut cmd, &self.root);
        Ok(cmd)
    }

    /// Both files must come back as they are on disk; then each is measured.
    fn measure(&self, srv: &mut Server, _: StaticServer, per_file: &mut PerFile) -> Result<()> {
        let name = srv.name.clone();
        for (file, expected) in FILES.iter().zip(&self.contents) {
            let path = format!("{URL_PREFIX}{file}");
            let answer = http::get(loopback(srv.ports.app), &path, "", Duration::from_secs(10))
                .context(|| format!("{name}: GET {path} before measuring failed"))?;
            match check_response(&answer, expected) {
                Ok(content_type) => println!(
                    "xtask bench: {name} GET {path}: 200, {} bytes as on disk, {content_type}",
                    expected.len()
                ),
                Err(e) => bail!(
                    "{name} does not serve {path} as it is on disk, so it is not measured: {e}; {}",
                    srv.output()
                ),
            }
        }
        for (file, list) in FILES.iter().zip(per_file) {
            let url = srv.url(&format!("{URL_PREFIX}{file}"));
            list.push(wrk::measure(&name, &url, self.args.connections, self.ctx)?);
            srv.ensure_running("during the measurement")?;
        }
        Ok(())
    }

    fn report(&self, runs: &[ServerRuns<StaticServer, PerFile>]) -> Table {
        let rounds = self.ctx.common.rounds_note("median of {n} rounds");
        let heading = format!(
            "Static files from STATIC_ROOT ({}) of examples/mysite, DEBUG off; {}{rounds}",
            paths::shown(&self.root),
            self.ctx.wrk_note(self.args.connections),
        );
        let mut t = Table::new(
            vec![heading, self.peers_line()],
            "file | server | >req/s | >p99 ms | >errors | >hurricane / server",
        );
        let hurricane = find(runs, StaticServer::Hurricane);
        for (i, contents) in self.contents.iter().enumerate() {
            let label = format!("{} ({} B)", FILES[i], contents.len());
            let h = median_of(hurricane, i).map(|h| h.requests_per_sec);
            for run in runs {
                let name = run.server.name();
                let Some(r) = median_of(run.measured(), i) else {
                    t.failed(&[&label, &name]);
                    continue;
                };
                let vs = match (run.server, h) {
                    (StaticServer::Hurricane, _) => "-".to_string(),
                    (_, Some(h)) => times(h, Some(r.requests_per_sec)),
                    (_, None) => "n/a".to_string(),
                };
                let (rps, p99) = (
                    format!("{:.0}", r.requests_per_sec),
                    format!("{:.2}", r.p99_ms),
                );
                t.row(&[&label, &name, &rps, &p99, &r.errors, &vs]);
            }
        }
        t.after = verdicts(runs);
        t
    }
}

/// The warnings for failed requests, then a PASS/FAIL (or SKIP) line per target.
fn verdicts(runs: &[ServerRuns<StaticServer, PerFile>]) -> Vec<String> {
    let mut out = Vec::new();
    let hurricane = find(runs, StaticServer::Hurricane);
    if hurricane.is_none() {
        out.push("targets: not checked (hurricane was not measured)".to_string());
    }
    for run in runs {
        for (i, file) in FILES.iter().enumerate() {
            if let Some(r) = median_of(run.measured(), i).filter(|r| r.errors > 0) {
                let name = run.server.name();
                out.push(format!(
                    "WARN {name} had {} failed requests on {file}",
                    r.errors
                ));
            }
        }
    }
    if hurricane.is_none() {
        return out;
    }
    for t in &TARGETS {
        let (file, peer) = (t.0, t.1.name());
        out.push(
            match (median_of(hurricane, file), median_of(find(runs, t.1), file)) {
                (Some(h), Some(p)) => verdict(t, &h, &p),
                _ => format!(
                    "SKIP hurricane vs {peer} on {} ({peer} not measured)",
                    FILES[file]
                ),
            },
        );
    }
    out
}

impl Static<'_> {
    /// nginx in the foreground with a configuration of its own, every path
    /// under target/bench: it never touches the system's nginx.
    fn nginx(&self, port: u16) -> Result<Command> {
        let Some(bin) = &self.ctx.nginx else {
            bail!("internal error: nginx was not installed");
        };
        let logs = &self.ctx.logs;
        let dir = logs.join("nginx");
        for sub in ["", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).context(|| format!("could not create {}", d.display()))?;
        }
        // A fresh access log per run, like the other servers' output.
        let _ = fs::remove_file(logs.join("static-nginx-access.log"));
        let conf = dir.join("nginx.conf");
        let text = nginx_conf(port, logs, &self.root, is_root());
        fs::write(&conf, text).context(|| format!("could not write {}", conf.display()))?;
        let mut c = pinned(self.ctx.pin.server.as_deref(), bin);
        // -p: relative paths resolve there; -e: start-up errors go to
        // stderr, not the packaged /var/log/nginx/error.log.
        c.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .args(["-e", "stderr", "-g", "daemon off;"])
            .current_dir(paths::example_project());
        Ok(c)
    }

    /// "peers: nginx 1.22.1 (...); whitenoise 6.12.0 under gunicorn 27.0.1 (...)"
    /// — best effort, only the peers measured.
    fn peers_line(&self) -> String {
        let servers = &self.args.servers;
        let mut parts = Vec::new();
        if let (true, Some(bin)) = (servers.contains(&StaticServer::Nginx), &self.ctx.nginx) {
            // nginx -v prints to stderr.
            let out = Command::new(bin).arg("-v").output();
            let version = out
                .ok()
                .and_then(|o| nginx_version(&String::from_utf8_lossy(&o.stderr)))
                .unwrap_or_else(|| "(version unknown)".to_string());
            parts.push(format!(
                "nginx {version} (1 worker, sendfile on, tcp_nopush on, keep-alive, access log on)"
            ));
        }
        if servers.contains(&StaticServer::Whitenoise) {
            let found = versions(&self.ctx.venv, &["whitenoise", "gunicorn"]);
            let (w, g) = match found.as_deref() {
                Some([_, w, g]) => (w.as_str(), g.as_str()),
                _ => ("?", "?"),
            };
            parts.push(format!(
                "whitenoise {w} under gunicorn {g} (sync, 1 worker)"
            ));
        }
        if parts.is_empty() {
            parts.push("none measured".to_string());
        }
        format!("peers: {}", parts.join("; "))
    }
}

/// nginx's configuration: `xtask/templates/nginx.conf` with its `{{name}}`
/// placeholders filled in. Its pid file and temp directories go under
/// `<logs>/nginx` (the prefix, `-p`), its access log is
/// `<logs>/static-nginx-access.log`; as root, its worker runs as root too
/// (otherwise nginx would switch to nobody, who may not read target/).
fn nginx_conf(port: u16, logs: &Path, static_root: &Path, as_root: bool) -> String {
    let shown = |p: PathBuf| p.display().to_string();
    [
        (
            "user",
            if as_root { "user root;\n" } else { "" }.to_string(),
        ),
        ("dir", shown(logs.join("nginx"))),
        ("access_log", shown(logs.join("static-nginx-access.log"))),
        ("port", port.to_string()),
        ("url_prefix", URL_PREFIX.to_string()),
        ("static_root", shown(static_root.to_path_buf())),
    ]
    .iter()
    .fold(
        include_str!("../../templates/nginx.conf").to_string(),
        |text, (name, value)| text.replace(&format!("{{{{{name}}}}}"), value),
    )
}

/// Check an answer: status 200, `Content-Length` equal to the file's size,
/// the body the file's bytes. Returns its Content-Type.
fn check_response(r: &Response, expected: &[u8]) -> Result<String, String> {
    let len = expected.len();
    if r.status != 200 {
        return Err(format!("it answered {}", http::describe(&Ok(r.clone()))));
    }
    match r.header("content-length") {
        Some(v) if v == len.to_string() => {}
        Some(v) => return Err(format!("Content-Length {v}, the file has {len} bytes")),
        None => return Err("no Content-Length".to_string()),
    }
    if r.body != expected {
        let got = r.body.len();
        return Err(format!(
            "a {got}-byte body that differs from the file's {len} bytes"
        ));
    }
    Ok(r.header("content-type")
        .unwrap_or("no Content-Type")
        .to_string())
}

/// "PASS hurricane req/s on demo/site.css >= 0.8x nginx: 0.93x (93120 vs
/// 100123)". Failed requests of hurricane fail the target.
fn verdict(&(file, peer, ratio, strict): &Target, h: &wrk::Report, p: &wrk::Report) -> String {
    let name = peer.name();
    let op = if strict { ">" } else { ">=" };
    let what = format!("hurricane req/s on {} {op} {ratio}x {name}", FILES[file]);
    if p.requests_per_sec <= 0.0 {
        return format!("FAIL {what}: {name} completed no request");
    }
    let r = h.requests_per_sec / p.requests_per_sec;
    let met = if strict { r > ratio } else { r >= ratio };
    let figures = format!(
        "{r:.2}x ({:.0} vs {:.0})",
        h.requests_per_sec, p.requests_per_sec
    );
    let mut line = super::verdict(met && h.errors == 0, &format!("{what}: {figures}"));
    if h.errors > 0 {
        let _ = write!(line, ", hurricane had {} failed requests", h.errors);
    }
    line
}

/// "nginx version: nginx/1.22.1" → "1.22.1".
fn nginx_version(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("nginx version: nginx/"))
        .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rps(requests_per_sec: f64, errors: u64) -> wrk::Report {
        wrk::Report {
            requests_per_sec,
            p99_ms: 1.0,
            requests: 1000,
            errors,
        }
    }

    #[test]
    fn the_large_file_is_exact_deterministic_javascript() {
        let js = bench_js(LARGE_LEN);
        assert_eq!(js.len(), LARGE_LEN);
        assert_eq!(js, bench_js(LARGE_LEN));
        let text = String::from_utf8(js).unwrap();
        assert!(text.is_ascii() && text.ends_with("-\n"));
        // Every line is whole: the comment, `const` lines, the padding.
        for line in text.lines().skip(1) {
            assert!(
                line.starts_with("const b") && line.ends_with("\";") || line.starts_with("//"),
                "{line}"
            );
        }
        for len in [200, 1000, 4096] {
            assert_eq!(bench_js(len).len(), len);
        }
    }

    #[test]
    fn nginx_conf_keeps_every_path_under_target_bench() {
        let (logs, root) = (Path::new("/w/target/bench"), Path::new("/w/target/bench/s"));
        let conf = nginx_conf(41234, logs, root, false);
        for line in [
            "worker_processes 1;",
            "pid /w/target/bench/nginx/nginx.pid;",
            "error_log stderr warn;",
            "sendfile on;",
            "tcp_nopush on;",
            "access_log /w/target/bench/static-nginx-access.log combined;",
            "client_body_temp_path /w/target/bench/nginx/client_body;",
            "listen 127.0.0.1:41234;",
            "location /static/ {",
            "alias /w/target/bench/s/;",
        ] {
            assert!(
                conf.lines().any(|l| l.trim() == line),
                "no `{line}`:\n{conf}"
            );
        }
        assert!(!conf.contains("daemon"), "-g sets it: {conf}");
        assert!(!conf.contains("user ") && !conf.contains("{{"), "{conf}");
        // Every absolute path outside the comments is one of ours.
        let settings = conf.lines().filter(|l| !l.trim_start().starts_with('#'));
        for word in settings.flat_map(str::split_whitespace) {
            let ours = word.starts_with("/w/target/bench/") || word == "/static/";
            assert!(!word.starts_with('/') || ours, "{word}");
        }
        let braces = |c| conf.chars().filter(|&x| x == c).count();
        assert_eq!(braces('{'), braces('}'));
        let as_root = nginx_conf(1, logs, root, true);
        assert!(as_root.lines().any(|l| l == "user root;"), "{as_root}");
    }

    /// What `check_response` says of this answer to a request for "body!".
    fn check(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<String, String> {
        let headers = headers.iter();
        let answer = Response {
            status,
            headers: headers
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        };
        check_response(&answer, b"body!")
    }

    #[test]
    fn a_response_must_be_200_with_the_exact_bytes() {
        let css = ("Content-Type", "text/css; charset=utf-8");
        let ok = check(200, &[css, ("content-length", "5")], b"body!");
        assert_eq!(ok.as_deref(), Ok("text/css; charset=utf-8"));
        let not_found = check(404, &[("Content-Length", "5")], b"body!");
        assert_eq!(not_found.unwrap_err(), "it answered 404 \"body!\"");
        let short = check(200, &[("Content-Length", "4")], b"body");
        assert!(short.unwrap_err().contains("Content-Length 4"));
        let chunked = [("Transfer-Encoding", "chunked")];
        let chunked = check(200, &chunked, b"5\r\nbody!\r\n0\r\n\r\n");
        assert!(chunked.unwrap_err().contains("no Content-Length"));
        let other = check(200, &[("Content-Length", "5")], b"BODY!");
        assert!(other.unwrap_err().contains("differs"));
    }

    #[test]
    fn verdicts_compare_against_the_targets() {
        let [nginx, whitenoise_small, _] = &TARGETS;
        let line = verdict(nginx, &rps(90_000.0, 0), &rps(100_000.0, 0));
        assert_eq!(
            line,
            "PASS hurricane req/s on demo/site.css >= 0.8x nginx: 0.90x (90000 vs 100000)"
        );
        // 0.8x exactly passes ">=".
        assert!(verdict(nginx, &rps(80.0, 0), &rps(100.0, 0)).starts_with("PASS"));
        assert!(verdict(nginx, &rps(79.0, 0), &rps(100.0, 0)).starts_with("FAIL"));
        // 10x exactly does not pass "more than 10x".
        let line = verdict(whitenoise_small, &rps(10_000.0, 0), &rps(1_000.0, 0));
        assert!(line.starts_with("FAIL hurricane req/s on demo/site.css > 10x whitenoise: 10.00x"));
        assert!(verdict(whitenoise_small, &rps(10_001.0, 0), &rps(1_000.0, 0)).starts_with("PASS"));
        // Failed requests of hurricane fail it, whatever the ratio.
        let line = verdict(nginx, &rps(200.0, 3), &rps(100.0, 0));
        assert!(line.starts_with("FAIL"), "{line}");
        assert!(line.ends_with("hurricane had 3 failed requests"), "{line}");
        // A peer that completed nothing.
        assert!(verdict(nginx, &rps(1.0, 0), &rps(0.0, 0)).contains("completed no request"));
    }

    #[test]
    fn reads_nginx_version() {
        let version = |out| nginx_version(out);
        assert_eq!(version("nginx version: nginx/1.22.1\n").unwrap(), "1.22.1");
        let ubuntu = version("nginx version: nginx/1.26.0 (Ubuntu)\n");
        assert_eq!(ubuntu.unwrap(), "1.26.0");
        assert_eq!(version("command not found"), None);
    }
}
