//! The static-file scenario (`cargo xtask bench static`): one small stylesheet and
//! one 100 KB file from `STATIC_ROOT`, served in turn by hurricane
//! (`serve --static`), nginx and whitenoise under gunicorn, each measured
//! with wrk. The targets: hurricane at least 0.8x nginx's req/s on the small
//! file, and more than 10x whitenoise's.
//!
//! The files: `manage.py collectstatic --noinput --clear` fills
//! `target/bench/staticfiles` (the example project's `DJANGO_STATIC_ROOT`)
//! with `demo/site.css` (1.4 KB, from the demo app), then the benchmark
//! writes `bench-100k.js` (102,400 bytes, the same on every run) into it.
//! All three servers serve that one directory under `/static/`, Django's
//! `DEBUG` off. Before measuring, each response is fetched once and must be
//! 200 with the file's exact bytes, so a 404 is never what gets measured.
//!
//! The servers:
//! - hurricane: `serve --static`, its defaults otherwise (it logs every
//!   request, like nginx here).
//! - nginx (Debian's package): one worker, `sendfile on`, `tcp_nopush on`,
//!   keep-alive without a per-connection request limit (hurricane has none),
//!   the combined access log written to `target/bench/static-nginx-access.log`,
//!   and the headers hurricane sends (`Cache-Control: public, max-age=60`,
//!   `nosniff`, `charset=utf-8`). Its configuration, `xtask/templates/nginx.conf`
//!   with the paths and port filled in, is written into
//!   `target/bench/nginx/` and it runs in the foreground (`-g 'daemon off;'`)
//!   with every path under that directory: it never touches the system's
//!   nginx service or its files.
//! - whitenoise: `gunicorn -w 1` (sync worker, as in the hello scenario) with
//!   `mysite.settings_whitenoise`, which adds WhiteNoiseMiddleware.

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
use super::{machine_line, versions, BenchServer, Ctx};

use crate::cmd::{is_root, Hint, Run};
use crate::error::{bail, Context, Result};
use crate::paths;
use crate::venv::Venv;

/// The URL path of `STATIC_URL = "static/"` in the example project.
const URL_PREFIX: &str = "/static/";

/// The size of the large file.
const LARGE_LEN: usize = 100 * 1024;

/// A file measured, by its path under `STATIC_ROOT` (and `URL_PREFIX`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct BenchFile {
    path: &'static str,
}

/// The small file, collected from the demo app's static/ directory.
const SMALL: BenchFile = BenchFile {
    path: "demo/site.css",
};
/// The 100 KB file, written by [`prepare_static_root`].
const LARGE: BenchFile = BenchFile {
    path: "bench-100k.js",
};
const FILES: [BenchFile; 2] = [SMALL, LARGE];

impl BenchFile {
    fn url_path(self) -> String {
        format!("{URL_PREFIX}{}", self.path)
    }
}

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

/// A ratio hurricane's req/s must reach against a peer on one file.
struct Target {
    file: BenchFile,
    peer: StaticServer,
    ratio: f64,
    /// `>` rather than `>=`.
    strict: bool,
}

/// At least 0.8x nginx's req/s on the small file and ahead of whitenoise by
/// more than 10x on both files.
const TARGETS: [Target; 3] = [
    Target {
        file: SMALL,
        peer: StaticServer::Nginx,
        ratio: 0.8,
        strict: false,
    },
    Target {
        file: SMALL,
        peer: StaticServer::Whitenoise,
        ratio: 10.0,
        strict: true,
    },
    Target {
        file: LARGE,
        peer: StaticServer::Whitenoise,
        ratio: 10.0,
        strict: true,
    },
];

/// The files as they are on disk, to check each server's answer against.
struct StaticRoot {
    dir: PathBuf,
    contents: Vec<Vec<u8>>,
}

/// wrk's reports of every round, per file (in `FILES` order).
type PerFile = Vec<Vec<wrk::Report>>;

/// The median over the rounds of one file.
fn median_of(per_file: Option<&PerFile>, file: BenchFile) -> Option<wrk::Report> {
    let i = FILES.iter().position(|&f| f == file)?;
    let list = per_file?.get(i)?;
    (!list.is_empty()).then(|| median_report(list))
}

struct Static<'a> {
    args: &'a Args,
    ctx: &'a Ctx,
    root: StaticRoot,
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<()> {
    let root = prepare_static_root(&ctx.venv, &ctx.logs.join("staticfiles"))?;
    let servers = &args.servers;
    let plan = Plan::new("static files", servers, NEEDS, "static", SMALL.url_path());
    scenario::run(&Static { args, ctx, root }, plan, ctx)
}

/// `collectstatic --clear` into `dir`, then the 100 KB file next to what it
/// collected; returns the contents every server must answer with.
fn prepare_static_root(venv: &Venv, dir: &Path) -> Result<StaticRoot> {
    println!(
        "xtask bench: collecting the static files into {}",
        dir.display()
    );
    let mut collect = venv.cmd("python");
    collect
        .args(["manage.py", "collectstatic", "--noinput", "--clear", "-v0"])
        .current_dir(paths::example_project());
    django_env(&mut collect, dir);
    collect.run().hint(format_args!(
        "collecting the example project's static files into {} failed",
        dir.display()
    ))?;
    let large = dir.join(LARGE.path);
    fs::write(&large, bench_js(LARGE_LEN))
        .context(|| format!("could not write {}", large.display()))?;
    let contents = FILES
        .iter()
        .map(|f| {
            let path = dir.join(f.path);
            fs::read(&path).context(|| format!("could not read {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StaticRoot {
        dir: dir.to_path_buf(),
        contents,
    })
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
                let mut c = server::gunicorn(venv, cpus, ports.app);
                c.env("DJANGO_SETTINGS_MODULE", "mysite.settings_whitenoise");
                c
            }
        };
        django_env(&mut cmd, &self.root.dir);
        Ok(cmd)
    }

    /// Both files must come back as they are on disk; then each is measured.
    fn measure(&self, srv: &mut Server, _: StaticServer, per_file: &mut PerFile) -> Result<()> {
        let name = srv.name.clone();
        for (file, expected) in FILES.iter().zip(&self.root.contents) {
            let path = file.url_path();
            let answer = http::get(loopback(srv.ports.app), &path, "", Duration::from_secs(10))
                .context(|| format!("{name}: GET {path} before measuring failed"))?;
            match check_response(&answer, expected) {
                Ok(content_type) => println!(
                    "xtask bench: {name} GET {path}: 200, {} bytes as on disk, {content_type}",
                    expected.len()
                ),
                Err(e) => bail!(
                    "{name} does not serve {path} as it is on disk, so it is not measured: {e}; \
                     its output ({}):\n{}",
                    srv.log.display(),
                    srv.log_tail()
                ),
            }
        }
        per_file.resize_with(FILES.len(), Vec::new);
        for (file, list) in FILES.iter().zip(per_file) {
            let url = srv.url(&file.url_path());
            list.push(wrk::measure(&name, &url, self.args.connections, self.ctx)?);
            srv.ensure_running("during the measurement")?;
        }
        Ok(())
    }

    fn report(&self, runs: &[ServerRuns<StaticServer, PerFile>]) -> Table {
        let common = &self.ctx.common;
        let rounds = self.ctx.common.rounds_note("median of {n} rounds");
        let dir = &self.root.dir;
        let shown_root = dir.strip_prefix(paths::root()).unwrap_or(dir).display();
        let heading = vec![
            format!(
                "Static files from STATIC_ROOT ({shown_root}) of examples/mysite, DEBUG off; \
                 wrk -t1 -c{} -d{}s --latency after a {}s warm-up; {}{rounds}",
                self.args.connections, common.duration, common.warmup, self.ctx.pin.description
            ),
            machine_line(&self.ctx.venv),
            self.peers_line(),
        ];
        let mut t = Table::new(
            heading,
            "file | server | >req/s | >p99 ms | >errors | >hurricane / server",
        );
        let hurricane = find(runs, StaticServer::Hurricane);
        for (file, contents) in FILES.iter().zip(&self.root.contents) {
            let label = format!("{} ({} B)", file.path, contents.len());
            let h = median_of(hurricane, *file);
            for run in runs {
                let name = run.server.name();
                let Some(r) = median_of(run.measured(), *file) else {
                    t.failed(&[&label, &name]);
                    continue;
                };
                let vs = match (&h, run.server) {
                    (_, StaticServer::Hurricane) => "-".to_string(),
                    (Some(h), _) => ratio(h, &r).map_or("n/a".to_string(), |v| format!("{v:.2}x")),
                    (None, _) => "n/a".to_string(),
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
        for file in FILES {
            if let Some(r) = median_of(run.measured(), file).filter(|r| r.errors > 0) {
                let name = run.server.name();
                out.push(format!(
                    "WARN {name} had {} failed requests on {}",
                    r.errors, file.path
                ));
            }
        }
    }
    if hurricane.is_none() {
        return out;
    }
    for t in &TARGETS {
        let peer = median_of(find(runs, t.peer), t.file);
        out.push(match (median_of(hurricane, t.file), peer) {
            (Some(h), Some(p)) => verdict(t, &h, &p),
            _ => format!(
                "SKIP hurricane vs {} on {} ({} not measured)",
                t.peer.name(),
                t.file.path,
                t.peer.name()
            ),
        });
    }
    out
}

impl Static<'_> {
    /// nginx in the foreground with a configuration of its own, every path
    /// under target/bench/nginx: it never touches the system's nginx.
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
        let access_log = logs.join("static-nginx-access.log");
        // A fresh log per run, like the other servers' output.
        let _ = fs::remove_file(&access_log);
        let conf = dir.join("nginx.conf");
        let text = nginx_conf(&NginxConf {
            port,
            static_root: &self.root.dir,
            dir: &dir,
            access_log: &access_log,
            user: is_root().then_some("root"),
        });
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
            let version = std::process::Command::new(bin)
                .arg("-v")
                .output()
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
            "peers: none measured".to_string()
        } else {
            format!("peers: {}", parts.join("; "))
        }
    }
}

/// What `xtask/templates/nginx.conf` is filled in with.
struct NginxConf<'a> {
    port: u16,
    static_root: &'a Path,
    /// The prefix (`-p`): pid file and temp directories.
    dir: &'a Path,
    access_log: &'a Path,
    /// `user` for the worker when the master runs as root (otherwise nginx
    /// would switch to nobody, who may not read target/).
    user: Option<&'a str>,
}

/// nginx's configuration for the scenario: the template with its `{{name}}`
/// placeholders filled in.
fn nginx_conf(c: &NginxConf) -> String {
    let user = c.user.map(|u| format!("user {u};\n")).unwrap_or_default();
    [
        ("user", user),
        ("dir", c.dir.display().to_string()),
        ("access_log", c.access_log.display().to_string()),
        ("port", c.port.to_string()),
        ("url_prefix", URL_PREFIX.to_string()),
        ("static_root", c.static_root.display().to_string()),
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
    if r.status != 200 {
        return Err(format!("it answered {}", http::describe(&Ok(r.clone()))));
    }
    match r.header("content-length") {
        Some(v) if v == expected.len().to_string() => {}
        Some(v) => {
            return Err(format!(
                "Content-Length {v}, the file has {} bytes",
                expected.len()
            ))
        }
        None => return Err("no Content-Length".to_string()),
    }
    if r.body != expected {
        return Err(format!(
            "a {}-byte body that differs from the file's {} bytes",
            r.body.len(),
            expected.len()
        ));
    }
    Ok(r.header("content-type")
        .unwrap_or("no Content-Type")
        .to_string())
}

/// hurricane's req/s over the peer's ("1.23x"), `None` without a peer figure.
fn ratio(hurricane: &wrk::Report, peer: &wrk::Report) -> Option<f64> {
    (peer.requests_per_sec > 0.0).then(|| hurricane.requests_per_sec / peer.requests_per_sec)
}

/// "PASS hurricane req/s on demo/site.css >= 0.8x nginx: 0.93x (93120 vs
/// 100123)". Failed requests of hurricane fail the target.
fn verdict(t: &Target, hurricane: &wrk::Report, peer: &wrk::Report) -> String {
    let name = t.peer.name();
    let op = if t.strict { ">" } else { ">=" };
    let what = format!(
        "hurricane req/s on {} {op} {}x {name}",
        t.file.path, t.ratio
    );
    let Some(r) = ratio(hurricane, peer) else {
        return format!("FAIL {what}: {name} completed no request");
    };
    let met = if t.strict { r > t.ratio } else { r >= t.ratio };
    let mut line = super::verdict(
        met && hurricane.errors == 0,
        &format!(
            "{what}: {r:.2}x ({:.0} vs {:.0})",
            hurricane.requests_per_sec, peer.requests_per_sec
        ),
    );
    if hurricane.errors > 0 {
        let _ = write!(line, ", hurricane had {} failed requests", hurricane.errors);
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
        assert!(js.is_ascii());
        let text = String::from_utf8(js).unwrap();
        assert!(text.ends_with("-\n"), "{}", &text[text.len() - 40..]);
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
    fn files_are_under_static_url() {
        assert_eq!(SMALL.url_path(), "/static/demo/site.css");
        assert_eq!(LARGE.url_path(), "/static/bench-100k.js");
    }

    #[test]
    fn nginx_conf_keeps_every_path_under_its_directory() {
        let conf = nginx_conf(&NginxConf {
            port: 41234,
            static_root: Path::new("/w/target/bench/staticfiles"),
            dir: Path::new("/w/target/bench/nginx"),
            access_log: Path::new("/w/target/bench/static-nginx-access.log"),
            user: None,
        });
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
            "alias /w/target/bench/staticfiles/;",
        ] {
            assert!(
                conf.lines().any(|l| l.trim() == line),
                "missing `{line}` in:\n{conf}"
            );
        }
        assert!(!conf.contains("daemon"), "-g sets it: {conf}");
        assert!(!conf.contains("user "), "{conf}");
        assert!(!conf.contains("{{"), "a placeholder is left: {conf}");
        // Every absolute path outside the comments is one of ours.
        let settings = conf.lines().filter(|l| !l.trim_start().starts_with('#'));
        for word in settings
            .flat_map(str::split_whitespace)
            .filter(|w| w.starts_with('/'))
        {
            assert!(
                word.starts_with("/w/target/bench/") || word == "/static/",
                "{word}"
            );
        }
        let braces = |c| conf.chars().filter(|&x| x == c).count();
        assert_eq!(braces('{'), braces('}'));
    }

    #[test]
    fn nginx_conf_sets_the_worker_user_as_root() {
        let conf = nginx_conf(&NginxConf {
            port: 1,
            static_root: Path::new("/s"),
            dir: Path::new("/n"),
            access_log: Path::new("/n/a.log"),
            user: Some("root"),
        });
        assert!(conf.lines().any(|l| l == "user root;"), "{conf}");
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn a_response_must_be_200_with_the_exact_bytes() {
        let css = ("Content-Type", "text/css; charset=utf-8");
        let ok = answer(200, &[css, ("content-length", "5")], b"body!");
        assert_eq!(
            check_response(&ok, b"body!"),
            Ok("text/css; charset=utf-8".to_string())
        );
        let not_found = answer(404, &[("Content-Length", "5")], b"body!");
        let e = check_response(&not_found, b"body!").unwrap_err();
        assert_eq!(e, "it answered 404 \"body!\"");
        let short = answer(200, &[("Content-Length", "4")], b"body");
        assert!(check_response(&short, b"body!")
            .unwrap_err()
            .contains("Content-Length 4"));
        let chunked = answer(
            200,
            &[("Transfer-Encoding", "chunked")],
            b"5\r\nbody!\r\n0\r\n\r\n",
        );
        assert!(check_response(&chunked, b"body!")
            .unwrap_err()
            .contains("no Content-Length"));
        let other = answer(200, &[("Content-Length", "5")], b"BODY!");
        assert!(check_response(&other, b"body!")
            .unwrap_err()
            .contains("differs"));
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
        assert_eq!(
            nginx_version("nginx version: nginx/1.22.1\n").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(
            nginx_version("nginx version: nginx/1.26.0 (Ubuntu)\n").as_deref(),
            Some("1.26.0")
        );
        assert_eq!(nginx_version("command not found"), None);
    }
}
