//! The static-file scenario (`--scenarios static`): one small stylesheet and
//! one 100 KB file from `STATIC_ROOT`, served in turn by hurricane
//! (`serve --static`), nginx and whitenoise under gunicorn, each measured
//! with wrk. Issue 4's targets: hurricane at least 0.8x nginx's req/s on the
//! small file, and more than 10x whitenoise's.
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
//!   `nosniff`, `charset=utf-8`). Its configuration is generated into
//!   `target/bench/nginx/` and it runs in the foreground (`-g 'daemon off;'`)
//!   with every path under that directory: it never touches the system's
//!   nginx service or its files.
//! - whitenoise: `gunicorn -w 1` (sync worker, as in the hello scenario) with
//!   `mysite.settings_whitenoise`, which adds WhiteNoiseMiddleware.

use super::BenchServer;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use super::server::{self, Server};
use super::{median_report, pinned, wrk, Args, Pinning};
use crate::cmd::{is_root, Cmd};
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

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum StaticServer {
    Hurricane,
    Nginx,
    Whitenoise,
}

impl super::BenchServer for StaticServer {
    const HURRICANE: Self = StaticServer::Hurricane;

    fn name(self) -> &'static str {
        match self {
            StaticServer::Hurricane => "hurricane",
            StaticServer::Nginx => "nginx",
            StaticServer::Whitenoise => "whitenoise",
        }
    }
}

/// A ratio hurricane's req/s must reach against a peer on one file.
struct Target {
    file: BenchFile,
    peer: StaticServer,
    ratio: f64,
    /// `>` rather than `>=`.
    strict: bool,
}

/// Issue 4: "at least 0.8x nginx's req/s on the small file and ahead of
/// whitenoise by more than 10x" (on both files).
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

/// What the scenario needs besides the bench venv.
pub struct Setup<'a> {
    pub venv: &'a Venv,
    /// nginx's binary, when nginx is measured.
    pub nginx: Option<&'a Path>,
}

/// The files as they are on disk, to check each server's answer against.
struct StaticRoot {
    dir: PathBuf,
    contents: Vec<Vec<u8>>,
}

/// One server's medians per file (in `FILES` order), or why it failed.
type ServerRuns = super::ServerRuns<StaticServer, Vec<Vec<wrk::Report>>>;

impl ServerRuns {
    fn median(&self, file: BenchFile) -> Option<wrk::Report> {
        let per_file = self.outcome.as_ref().ok()?;
        let i = FILES.iter().position(|&f| f == file)?;
        let list = per_file.get(i)?;
        (!list.is_empty()).then(|| median_report(list))
    }
}

/// Run the scenario and print its table; an error names what could not be
/// measured (the table is printed anyway).
pub fn run(args: &Args, setup: &Setup, pin: &Pinning, logs: &Path) -> Result<()> {
    let root = prepare_static_root(setup.venv, &logs.join("staticfiles"))?;
    let needs = super::NeedsOption {
        option: "--static-max-age",
        missing: "serves no static files (issue 4 is not in it)",
        peers_only: "cargo xtask bench --scenarios static --static-servers nginx,whitenoise",
    };
    let runs = super::measure_rounds(
        "static files",
        &args.static_servers,
        args.rounds,
        &needs,
        || vec![Vec::new(); FILES.len()],
        |server, per_file| {
            let reports = measure_server(server, args, setup, &root, pin, logs)?;
            for (list, report) in per_file.iter_mut().zip(reports) {
                list.push(report);
            }
            Ok(())
        },
    );
    report(args, setup, pin, &root, &runs);
    super::all_measured("static files", &runs)
}

/// `collectstatic --clear` into `dir`, then the 100 KB file next to what it
/// collected; returns the contents every server must answer with.
fn prepare_static_root(venv: &Venv, dir: &Path) -> Result<StaticRoot> {
    let project = paths::example_project();
    println!(
        "xtask bench: collecting the static files into {}",
        dir.display()
    );
    let mut collect = venv.cmd("python");
    collect
        .args(["manage.py", "collectstatic", "--noinput", "--clear", "-v0"])
        .dir(&project)
        .hint(format!(
            "collecting the example project's static files into {} failed",
            dir.display()
        ));
    django_env(&mut collect, dir);
    collect.run()?;
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
fn django_env(cmd: &mut Cmd, static_root: &Path) {
    cmd.env("DJANGO_STATIC_ROOT", static_root)
        .env("DJANGO_DEBUG", "0");
}

/// `len` bytes of JavaScript, the same on every run: a comment, `const`
/// lines of pseudo-random letters (so it looks like a minified bundle, not
/// one repeated byte), and a comment line padding it to the exact length.
fn bench_js(len: usize) -> Vec<u8> {
    let mut out =
        b"/* bench-100k.js: written by `cargo xtask bench --scenarios static`. */\n".to_vec();
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

/// Where nginx keeps its generated configuration, pid file and temp dirs.
fn nginx_dir(logs: &Path) -> PathBuf {
    logs.join("nginx")
}

fn command(
    server: StaticServer,
    setup: &Setup,
    root: &StaticRoot,
    port: u16,
    cpus: Option<&str>,
    logs: &Path,
) -> Result<Cmd> {
    let port_s = port.to_string();
    let project = paths::example_project();
    let mut cmd = match server {
        StaticServer::Hurricane => {
            let mut c = pinned(cpus, paths::hurricane_bin());
            c.args([
                "serve",
                "--static",
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ])
            .args(["--probe-port", "0"]);
            setup.venv.activate(&mut c);
            django_env(&mut c, &root.dir);
            c
        }
        StaticServer::Nginx => {
            let Some(bin) = setup.nginx else {
                bail!("internal error: nginx was not installed");
            };
            let dir = nginx_dir(logs);
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
                static_root: &root.dir,
                dir: &dir,
                access_log: &access_log,
                user: is_root().then_some("root"),
            });
            fs::write(&conf, text).context(|| format!("could not write {}", conf.display()))?;
            let mut c = pinned(cpus, bin);
            // -p: relative paths resolve there; -e: start-up errors go to
            // stderr, not the packaged /var/log/nginx/error.log.
            c.arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf)
                .args(["-e", "stderr", "-g", "daemon off;"]);
            c
        }
        StaticServer::Whitenoise => {
            let mut c = pinned(cpus, setup.venv.bin("gunicorn"));
            c.args(["-w", "1", "-b", &format!("127.0.0.1:{port}"), "mysite.wsgi"]);
            setup.venv.activate(&mut c);
            django_env(&mut c, &root.dir);
            c.env("DJANGO_SETTINGS_MODULE", "mysite.settings_whitenoise");
            c
        }
    };
    cmd.dir(project);
    Ok(cmd)
}

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

/// nginx's configuration for the scenario; every path is absolute and under
/// target/bench, so nothing of the packaged setup (/etc/nginx, /var/log/nginx,
/// /var/lib/nginx, /run/nginx.pid) is read or written.
fn nginx_conf(c: &NginxConf) -> String {
    let dir = c.dir.display();
    let mut s = String::new();
    s.push_str("# Generated by `cargo xtask bench --scenarios static`; rewritten on every run.\n");
    if let Some(user) = c.user {
        let _ = writeln!(s, "user {user};");
    }
    let _ = write!(
        s,
        "worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    types {{
        text/css css;
        text/javascript js;
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/css text/javascript;

    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    # hurricane has no per-connection request limit (nginx's default: 1000).
    keepalive_requests 1000000;
    access_log {access_log} combined;

    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        location {URL_PREFIX} {{
            alias {root}/;
            # What hurricane and whitenoise send for a static file.
            add_header Cache-Control \"public, max-age=60\";
            add_header X-Content-Type-Options nosniff;
        }}
    }}
}}
",
        access_log = c.access_log.display(),
        port = c.port,
        root = c.static_root.display(),
    );
    s
}

/// One round for one server: start it, check both files, then measure each.
fn measure_server(
    server: StaticServer,
    args: &Args,
    setup: &Setup,
    root: &StaticRoot,
    pin: &Pinning,
    logs: &Path,
) -> Result<Vec<wrk::Report>> {
    let name = server.name();
    let port = server::free_port()?;
    let cmd = command(server, setup, root, port, pin.server.as_deref(), logs)?;
    let log = logs.join(format!("static-{name}.log"));
    let mut srv = Server::start(name, port, cmd, log)?;
    srv.wait_ready(&SMALL.url_path(), Duration::from_secs(60))?;
    for (file, expected) in FILES.iter().zip(&root.contents) {
        let path = file.url_path();
        let raw = http_get(port, &path)
            .context(|| format!("{name}: GET {path} before measuring failed"))?;
        match check_response(&raw, expected) {
            Ok(content_type) => println!(
                "xtask bench: {name} GET {path}: 200, {} bytes as on disk, {content_type}",
                expected.len()
            ),
            Err(e) => bail!(
                "{name} does not serve {path} as it is on disk, so it is not measured: {e}; \
                 its output ({}):\n{}",
                srv.log().display(),
                srv.log_tail()
            ),
        }
    }
    let conns = args.static_connections;
    let load = pin.load.as_deref();
    let mut reports = Vec::new();
    for file in FILES {
        let url = srv.url(&file.url_path());
        println!("xtask bench: {name} warm-up {}s: {url}", args.warmup);
        wrk::run(&url, conns, args.warmup, load)?;
        println!(
            "xtask bench: {name} measuring: wrk -t1 -c{conns} -d{}s --latency {url}",
            args.duration
        );
        let r = wrk::run(&url, conns, args.duration, load)?;
        srv.ensure_running("during the measurement")?;
        if r.requests == 0 {
            bail!("wrk completed no request against {name} on {}", file.path);
        }
        reports.push(r);
    }
    srv.stop();
    Ok(reports)
}

/// `GET path` on a new connection (`Connection: close`): the raw response.
fn http_get(port: u16, path: &str) -> std::io::Result<Vec<u8>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Check a raw response: status 200, `Content-Length` equal to the file's
/// size, the body the file's bytes. Returns its Content-Type.
fn check_response(raw: &[u8], expected: &[u8]) -> Result<String, String> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!("no complete response head in {} bytes", raw.len()));
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("it answered `{status_line}`"));
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    match header("content-length") {
        Some(v) if v == expected.len().to_string() => {}
        Some(v) => {
            return Err(format!(
                "Content-Length {v}, the file has {} bytes",
                expected.len()
            ))
        }
        None => return Err("no Content-Length".to_string()),
    }
    if body != expected {
        return Err(format!(
            "a {}-byte body that differs from the file's {} bytes",
            body.len(),
            expected.len()
        ));
    }
    Ok(header("content-type").unwrap_or_else(|| "no Content-Type".to_string()))
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
    let ok = met && hurricane.errors == 0;
    let mut line = format!(
        "{} {what}: {r:.2}x ({:.0} vs {:.0})",
        if ok { "PASS" } else { "FAIL" },
        hurricane.requests_per_sec,
        peer.requests_per_sec
    );
    if hurricane.errors > 0 {
        let _ = write!(line, ", hurricane had {} failed requests", hurricane.errors);
    }
    line
}

fn report(args: &Args, setup: &Setup, pin: &Pinning, root: &StaticRoot, runs: &[ServerRuns]) {
    let rounds = if args.rounds > 1 {
        format!("; median of {} rounds", args.rounds)
    } else {
        String::new()
    };
    let shown_root = root
        .dir
        .strip_prefix(paths::root())
        .unwrap_or(&root.dir)
        .display();
    println!();
    println!(
        "Static files from STATIC_ROOT ({shown_root}) of examples/mysite, DEBUG off; \
         wrk -t1 -c{} -d{}s --latency after a {}s warm-up; {}{rounds}",
        args.static_connections, args.duration, args.warmup, pin.description
    );
    println!("{}", super::machine_line(setup.venv));
    println!("{}", peers_line(args, setup));
    println!();
    println!("| file | server | req/s | p99 ms | errors | hurricane / server |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let hurricane = runs.iter().find(|r| r.server == StaticServer::Hurricane);
    for (file, contents) in FILES.iter().zip(&root.contents) {
        let label = format!("{} ({} B)", file.path, contents.len());
        let h = hurricane.and_then(|r| r.median(*file));
        for run in runs {
            let name = run.server.name();
            let Some(r) = run.median(*file) else {
                println!("| {label} | {name} | failed | - | - | - |");
                continue;
            };
            let vs = match (&h, run.server) {
                (_, StaticServer::Hurricane) => "-".to_string(),
                (Some(h), _) => ratio(h, &r).map_or("n/a".to_string(), |v| format!("{v:.2}x")),
                (None, _) => "n/a".to_string(),
            };
            println!(
                "| {label} | {name} | {:.0} | {:.2} | {} | {vs} |",
                r.requests_per_sec, r.p99_ms, r.errors
            );
        }
    }
    println!();

    if hurricane.is_none_or(|r| r.outcome.is_err()) {
        println!("targets: not checked (hurricane was not measured)");
    }
    for run in runs {
        for file in FILES {
            if let Some(r) = run.median(file).filter(|r| r.errors > 0) {
                println!(
                    "WARN {} had {} failed requests on {}",
                    run.server.name(),
                    r.errors,
                    file.path
                );
            }
        }
    }
    let Some(hurricane) = hurricane.filter(|r| r.outcome.is_ok()) else {
        return;
    };
    for t in &TARGETS {
        let peer = runs
            .iter()
            .find(|r| r.server == t.peer)
            .and_then(|r| r.median(t.file));
        match (hurricane.median(t.file), peer) {
            (Some(h), Some(p)) => println!("{}", verdict(t, &h, &p)),
            _ => println!(
                "SKIP hurricane vs {} on {} ({} not measured)",
                t.peer.name(),
                t.file.path,
                t.peer.name()
            ),
        }
    }
}

/// "peers: nginx 1.22.1 (...); whitenoise 6.12.0 under gunicorn 27.0.1 (...)"
/// — best effort, only the peers measured.
fn peers_line(args: &Args, setup: &Setup) -> String {
    let mut parts = Vec::new();
    if let (true, Some(bin)) = (
        args.static_servers.contains(&StaticServer::Nginx),
        setup.nginx,
    ) {
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
    if args.static_servers.contains(&StaticServer::Whitenoise) {
        let versions = Cmd::new(setup.venv.python())
            .args([
                "-c",
                "from importlib.metadata import version as v; \
                 print(v('whitenoise'), v('gunicorn'))",
            ])
            .read()
            .ok();
        let mut it = versions.as_deref().unwrap_or_default().split_whitespace();
        let (w, g) = (it.next().unwrap_or("?"), it.next().unwrap_or("?"));
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
        // Every absolute path is one of ours.
        for word in conf.split_whitespace().filter(|w| w.starts_with('/')) {
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

    #[test]
    fn a_response_must_be_200_with_the_exact_bytes() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\n\
                   content-length: 5\r\n\r\nbody!";
        assert_eq!(
            check_response(ok, b"body!"),
            Ok("text/css; charset=utf-8".to_string())
        );
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nbody!";
        let e = check_response(not_found, b"body!").unwrap_err();
        assert!(e.contains("HTTP/1.1 404 Not Found"), "{e}");
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        assert!(check_response(short, b"body!")
            .unwrap_err()
            .contains("Content-Length 4"));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nbody!\r\n0\r\n\r\n";
        assert!(check_response(chunked, b"body!")
            .unwrap_err()
            .contains("no Content-Length"));
        let other = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nBODY!";
        assert!(check_response(other, b"body!")
            .unwrap_err()
            .contains("differs"));
        assert!(check_response(b"HTTP/1.1 200 OK\r\n", b"").is_err());
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
