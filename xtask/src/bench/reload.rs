//! The reload scenario (`--scenarios reload`): how long after a developer
//! saves a file the server answers with the new code. Issue 5's target:
//! under 1 s median for `hurricane serve --autoreload` on the example project.
//!
//! Each server, in turn, runs in a fresh copy of examples/mysite in
//! `target/bench/reload-site` (so the real example is never edited; the copy
//! leaves out `__pycache__` and `staticfiles`):
//! - hurricane: `hurricane serve --autoreload --host 127.0.0.1 --port P
//!   --probe-port 0` (its supervisor watches the project directory with
//!   inotify and starts a fresh child per change);
//! - runserver: `python manage.py runserver 127.0.0.1:P`, Django's own
//!   autoreloader (StatReloader: it stats every watched file once a second,
//!   then restarts its child process, which closes the port meanwhile).
//!
//! Both with `DJANGO_DEBUG=1`, as a developer runs them. Once `GET /hello`
//! answers and a second has passed (so runserver's reloader has taken its
//! first snapshot), `--reload-edits` times: the hello view in
//! `demo/views.py` is rewritten in place (the rest of the file as it was) to
//! return a text no earlier version returned; the clock starts when the file
//! is closed. `GET /hello` is then polled every 5 ms, each time on a new
//! connection (`Connection: close`), until a 200 answers exactly the new
//! text; that answer's last byte stops the clock (30 s at most). A poll
//! fails when it gets no answer (refused, reset, timed out after 5 s), a
//! status other than 200, or a body that is neither the old text nor the
//! new. Then a pause of 1 to 2 s before the next edit, a different length
//! each time (spread evenly over that second): runserver looks for changes
//! once a second from its start, so after a fixed pause every save would come
//! at the same moment of its cycle and its delay would be the same each time.
//!
//! Reported per server: median, p90 and max of the delays, restarts seen in
//! its log (hurricane's `Reloaded in` lines, runserver's starts), polls
//! and failed polls; then the ratio of the medians and the PASS/FAIL lines.

use super::BenchServer;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;

use super::prober::{self, percentile, ProbeError};
use super::server::{self, Server};
use super::{median, Args};
use crate::cmd::Cmd;
use crate::error::{bail, Context, Result};
use crate::paths;
use crate::venv::Venv;

/// Issue 5's target for hurricane's median delay.
const TARGET_MEDIAN_MS: f64 = 1000.0;
/// The view rewritten, relative to the project directory.
const VIEWS: &str = "demo/views.py";
/// The path polled, served by the hello view.
const PATH: &str = "/hello";
/// What the example's hello view answers before the first edit.
const ORIGINAL_TEXT: &str = "Hello, world!";
/// Time between two polls (from the start of one to the start of the next,
/// or at once when one took longer).
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Deadline of one poll.
const POLL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one edit may take to show before the server counts as failed.
const EDIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after the server is ready, and the shortest after an edit has shown.
const PAUSE: Duration = Duration::from_secs(1);

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReloadServer {
    Hurricane,
    Runserver,
}

impl super::BenchServer for ReloadServer {
    const HURRICANE: Self = ReloadServer::Hurricane;

    fn name(self) -> &'static str {
        match self {
            ReloadServer::Hurricane => "hurricane",
            ReloadServer::Runserver => "runserver",
        }
    }
}

impl ReloadServer {
    /// How many times the server restarted after a change, from its log:
    /// hurricane's `Reloaded in` lines; one less than runserver's `Starting
    /// development server at` lines (its `changed, reloading` line is logged
    /// twice with the example's LOGGING: by Django's handler and the root's).
    fn restarts(self, log: &str) -> usize {
        match self {
            ReloadServer::Hurricane => log.matches("Reloaded in ").count(),
            ReloadServer::Runserver => log
                .matches("Starting development server at")
                .count()
                .saturating_sub(1),
        }
    }
}

/// Everything measured for one server, over all rounds.
#[derive(Default)]
struct Measured {
    /// Save-to-new-answer delay of every edit, in ms.
    delays_ms: Vec<f64>,
    polls: u64,
    failed: u64,
    first_failure: Option<String>,
    /// Restart lines in the server's log, summed over the rounds.
    restarts: usize,
}

type ServerRuns = super::ServerRuns<ReloadServer, Measured>;

/// Median, p90 and max of a list of delays.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    median_ms: f64,
    p90_ms: f64,
    max_ms: f64,
}

impl Summary {
    /// `None` for no delays. The median interpolates between the middle two
    /// of an even count; p90 is nearest-rank.
    fn of(delays_ms: &[f64]) -> Option<Summary> {
        let mut sorted = delays_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            p90_ms: percentile(&sorted, 90.0)?,
            max_ms: *sorted.last()?,
            median_ms: median(sorted.into_iter()),
        })
    }
}

/// Run the scenario and print its table; an error names what could not be
/// measured (the table is printed anyway).
pub fn run(args: &Args, venv: &Venv, logs: &Path) -> Result<()> {
    let site = logs.join("reload-site");
    let needs = super::NeedsOption {
        option: "--reload-include",
        missing: "has no autoreload (issue 5 is not in it)",
        peers_only: "cargo xtask bench --scenarios reload --reload-servers runserver",
    };
    let runs = super::measure_rounds(
        "reload time",
        &args.reload_servers,
        args.rounds,
        &needs,
        Measured::default,
        |server, measured| measure_server(server, args, venv, &site, logs, measured),
    );
    report(args, venv, &site, &runs);
    super::all_measured("reload time", &runs)
}

fn command(server: ReloadServer, venv: &Venv, port: u16, site: &Path) -> Cmd {
    let port_s = port.to_string();
    let mut cmd = match server {
        ReloadServer::Hurricane => {
            let mut c = Cmd::new(paths::hurricane_bin());
            c.args(["serve", "--autoreload", "--host", "127.0.0.1"])
                .args(["--port", &port_s, "--probe-port", "0"]);
            c
        }
        ReloadServer::Runserver => {
            let mut c = Cmd::new(venv.python());
            c.args(["manage.py", "runserver", &format!("127.0.0.1:{port}")]);
            // Its log lines reach the log file as they are written.
            c.env("PYTHONUNBUFFERED", "1");
            c
        }
    };
    venv.activate(&mut cmd);
    cmd.env("DJANGO_DEBUG", "1");
    cmd.dir(site);
    cmd
}

/// One round for one server: a fresh copy of the site, start, the edits, stop.
fn measure_server(
    server: ReloadServer,
    args: &Args,
    venv: &Venv,
    site: &Path,
    logs: &Path,
    into: &mut Measured,
) -> Result<()> {
    let name = server.name();
    copy_site(&paths::example_project(), site)?;
    let views = site.join(VIEWS);
    let original =
        fs::read_to_string(&views).context(|| format!("could not read {}", views.display()))?;
    // Fails here, before any server starts, if the view cannot be found.
    with_hello_returning(&original, ORIGINAL_TEXT).map_err(crate::error::Error::new)?;

    let port = server::free_port()?;
    let log = logs.join(format!("reload-{name}.log"));
    let mut srv = Server::start(name, port, command(server, venv, port, site), log)?;
    srv.wait_ready(PATH, Duration::from_secs(60))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match prober::get(addr, PATH, "", POLL_TIMEOUT) {
        Ok((200, body)) if body == ORIGINAL_TEXT.as_bytes() => {}
        other => bail!(
            "{name}: GET {PATH} does not answer {ORIGINAL_TEXT:?} before the first edit: {}",
            describe_poll(&other)
        ),
    }
    sleep(PAUSE);

    let run_id = run_id();
    let mut old = ORIGINAL_TEXT.to_string();
    for edit in 1..=args.reload_edits {
        let new = marker(edit, &run_id);
        let text = with_hello_returning(&original, &new).map_err(crate::error::Error::new)?;
        let saved = save(&views, &text)?;
        let e = match wait_for(&mut srv, addr, &old, &new, saved) {
            Ok(e) => e,
            Err(err) => bail!("edit {edit} of {}: {err}", args.reload_edits),
        };
        let ms = e.delay.as_secs_f64() * 1000.0;
        println!(
            "xtask bench: {name} edit {edit}/{}: new answer after {ms:.0} ms, {} polls, {} failed",
            args.reload_edits, e.polls, e.failed
        );
        into.delays_ms.push(ms);
        into.polls += e.polls;
        into.failed += e.failed;
        if into.first_failure.is_none() {
            into.first_failure = e.first_failure.map(|f| format!("edit {edit}: {f}"));
        }
        old = new;
        sleep(pause_after(edit));
    }
    srv.ensure_running("during the measurement")?;
    srv.stop();
    let log_text = fs::read_to_string(srv.log()).unwrap_or_default();
    into.restarts += server.restarts(&log_text);
    Ok(())
}

/// Copy the project at `from` to `to` (emptied first), leaving out bytecode
/// caches and collected static files.
fn copy_site(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).context(|| format!("could not remove {}", to.display()))?;
    }
    copy_dir(from, to)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).context(|| format!("could not create {}", to.display()))?;
    let entries = fs::read_dir(from).context(|| format!("could not list {}", from.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("could not list {}", from.display()))?;
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        if name_s == "__pycache__" || name_s == "staticfiles" || name_s.ends_with(".pyc") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .context(|| format!("could not stat {}", src.display()))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)
                .context(|| format!("could not copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Write `text` to `path` in place (truncate, write, close, as most editors
/// save); the instant it was closed.
fn save(path: &Path, text: &str) -> Result<Instant> {
    let write = || -> io::Result<()> {
        let mut f = File::create(path)?;
        f.write_all(text.as_bytes())?;
        f.flush()
    };
    write().context(|| format!("could not write {}", path.display()))?;
    Ok(Instant::now())
}

/// The pause after edit `edit`: [`PAUSE`] plus a fraction of a second that
/// differs for every edit and covers the second evenly (the fractional parts
/// of multiples of the golden ratio), the same on every run.
fn pause_after(edit: u32) -> Duration {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let frac = (f64::from(edit) * GOLDEN).fract();
    PAUSE + Duration::from_secs_f64(frac)
}

/// A hex tag of the current time, so no two runs' texts are the same.
fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}")
}

/// What the hello view answers after edit `edit`: letters, digits, spaces
/// and punctuation only, so it needs no escaping in a Python string.
fn marker(edit: u32, run_id: &str) -> String {
    format!("Hello, reload {edit} of run {run_id}!")
}

/// `source` (the example's views.py) with the top-level `def hello(request):`
/// replaced by one returning `text`, everything else as it was. The new
/// function takes the place of the old one (up to the next top-level line),
/// so the URLconf's `views.hello` is the new view.
fn with_hello_returning(source: &str, text: &str) -> Result<String, String> {
    if text.contains(['"', '\\', '\n', '\r']) {
        return Err(format!("internal error: {text:?} needs escaping"));
    }
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("def hello(")) else {
        return Err(format!(
            "{VIEWS} of the example project has no top-level `def hello(`: the reload \
             scenario rewrites that view"
        ));
    };
    // The function's lines: indented or blank, up to the next top-level line;
    // blank lines before that line stay with it.
    let mut end = start + 1;
    while end < lines.len() && (lines[end].trim().is_empty() || lines[end].starts_with([' ', '\t']))
    {
        end += 1;
    }
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let mut out: String = lines[..start].concat();
    let _ = write!(
        out,
        "def hello(request):\n    \
         \"\"\"Rewritten by `cargo xtask bench --scenarios reload`.\"\"\"\n    \
         return HttpResponse(\"{text}\", content_type=\"text/plain\")\n"
    );
    out.push_str(&lines[end..].concat());
    Ok(out)
}

/// What one poll saw.
#[derive(Debug, PartialEq, Eq)]
enum Poll {
    /// 200 with the new text: done.
    New,
    /// 200 with the text from before the edit: not yet.
    Old,
    /// Anything else: a failed request; why.
    Failed(String),
}

fn classify(outcome: &Result<(u16, Vec<u8>), ProbeError>, old: &str, new: &str) -> Poll {
    match outcome {
        Ok((200, body)) if body == new.as_bytes() => Poll::New,
        Ok((200, body)) if body == old.as_bytes() => Poll::Old,
        _ => Poll::Failed(describe_poll(outcome)),
    }
}

/// "could not connect: ...", "503: <first 80 bytes of the body>".
fn describe_poll(outcome: &Result<(u16, Vec<u8>), ProbeError>) -> String {
    match outcome {
        Ok((status, body)) => {
            let text = String::from_utf8_lossy(body);
            let short: String = text.chars().take(80).collect();
            let more = if text.chars().count() > 80 { "..." } else { "" };
            format!("{status} {short:?}{more}")
        }
        Err(e) => e.to_string(),
    }
}

/// How one edit went.
struct Edit {
    delay: Duration,
    polls: u64,
    failed: u64,
    first_failure: Option<String>,
}

/// Poll until the new text answers; the delay counts from `saved`.
fn wait_for(
    srv: &mut Server,
    addr: SocketAddr,
    old: &str,
    new: &str,
    saved: Instant,
) -> Result<Edit> {
    let (mut polls, mut failed, mut first_failure) = (0, 0, None);
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if next > now {
            sleep(next - now);
        }
        next += POLL_INTERVAL;
        let outcome = prober::get(addr, PATH, "", POLL_TIMEOUT);
        let done = Instant::now();
        next = next.max(done);
        polls += 1;
        match classify(&outcome, old, new) {
            Poll::New => {
                return Ok(Edit {
                    delay: done - saved,
                    polls,
                    failed,
                    first_failure,
                })
            }
            Poll::Old => {}
            Poll::Failed(why) => {
                failed += 1;
                first_failure.get_or_insert_with(|| {
                    let ms = (done - saved).as_secs_f64() * 1000.0;
                    format!("{why}, {ms:.0} ms after the save")
                });
            }
        }
        srv.ensure_running("while reloading")?;
        if done - saved > EDIT_TIMEOUT {
            bail!(
                "{} did not answer {new:?} on {PATH} within {}s of the save ({polls} polls, \
                 {failed} failed, last: {}); its output ({}):\n{}",
                srv.name,
                EDIT_TIMEOUT.as_secs(),
                describe_poll(&outcome),
                srv.log().display(),
                srv.log_tail()
            );
        }
    }
}

fn report(args: &Args, venv: &Venv, site: &Path, runs: &[ServerRuns]) {
    let rounds = if args.rounds > 1 {
        format!("; {} rounds pooled", args.rounds)
    } else {
        String::new()
    };
    println!();
    println!(
        "Reload on a copy of examples/mysite ({}): {} edits of {VIEWS} per server, each timed \
         from the save (file closed) to the first 200 of GET {PATH} with the new text, polled \
         every {} ms on a new connection (Connection: close); pauses of {} to {} s between \
         edits; DJANGO_DEBUG=1{rounds}",
        display_rel(site),
        args.reload_edits,
        POLL_INTERVAL.as_millis(),
        PAUSE.as_secs(),
        PAUSE.as_secs() + 1,
    );
    println!("{}", super::machine_line(venv));
    println!();
    println!(
        "| server | edits | median ms | p90 ms | max ms | restarts | polls | failed polls \
         | median vs runserver |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let summary = |server: ReloadServer| -> Option<Summary> {
        let run = runs.iter().find(|r| r.server == server)?;
        Summary::of(&run.outcome.as_ref().ok()?.delays_ms)
    };
    let peer = summary(ReloadServer::Runserver);
    let mut notes = Vec::new();
    for run in runs {
        let name = run.server.name();
        let (Ok(m), Some(s)) = (&run.outcome, summary(run.server)) else {
            println!("| {name} | failed | - | - | - | - | - | - | - |");
            continue;
        };
        let vs = match peer {
            Some(p) if p.median_ms > 0.0 => format!("{:.2}x", s.median_ms / p.median_ms),
            _ => "n/a".to_string(),
        };
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {vs} |",
            m.delays_ms.len(),
            s.median_ms,
            s.p90_ms,
            s.max_ms,
            m.restarts,
            m.polls,
            m.failed
        );
        if let Some(first) = &m.first_failure {
            notes.push(format!("note: {name}'s first failed poll: {first}"));
        }
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    let hurricane = runs
        .iter()
        .find(|r| r.server == ReloadServer::Hurricane)
        .and_then(|r| r.outcome.as_ref().ok());
    match (hurricane, summary(ReloadServer::Hurricane)) {
        (Some(m), Some(s)) => {
            for line in verdicts(&s, m.failed, m.delays_ms.len(), peer.as_ref()) {
                println!("{line}");
            }
        }
        _ => println!("target: not checked (hurricane was not measured)"),
    }
}

/// The PASS/FAIL lines for hurricane: the median target (with runserver's
/// median beside it) and no failed poll across the reloads.
fn verdicts(s: &Summary, failed: u64, edits: usize, peer: Option<&Summary>) -> Vec<String> {
    let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let ok = s.median_ms < TARGET_MEDIAN_MS;
    let mut first = format!(
        "{} hurricane median save-to-new-answer < {:.0} s: {:.0} ms",
        pass(ok),
        TARGET_MEDIAN_MS / 1000.0,
        s.median_ms
    );
    match peer {
        Some(p) if s.median_ms > 0.0 && p.median_ms >= s.median_ms => {
            let _ = write!(
                first,
                " (runserver {:.0} ms, {:.1}x faster)",
                p.median_ms,
                p.median_ms / s.median_ms
            );
        }
        Some(p) if p.median_ms > 0.0 => {
            let _ = write!(
                first,
                " (runserver {:.0} ms, {:.1}x slower)",
                p.median_ms,
                s.median_ms / p.median_ms
            );
        }
        _ => first.push_str(" (runserver not measured)"),
    }
    let second = format!(
        "{} hurricane failed no request while reloading: {failed} failed polls over {edits} \
         reloads",
        pass(failed == 0)
    );
    vec![first, second]
}

/// `path` relative to the workspace root when under it.
fn display_rel(path: &Path) -> String {
    let root = paths::root();
    path.strip_prefix(&root)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const EXAMPLE_VIEWS: &str = include_str!("../../../examples/mysite/demo/views.py");

    fn top_level_defs(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|l| l.starts_with("def "))
            .map(|l| l.split('(').next().unwrap_or(l))
            .collect()
    }

    #[test]
    fn rewrites_only_the_hello_view_of_the_example() {
        let out = with_hello_returning(EXAMPLE_VIEWS, "Hello, reload 1 of run abc!")
            .expect("the example has a hello view");
        assert_eq!(top_level_defs(&out), top_level_defs(EXAMPLE_VIEWS));
        assert!(out.contains(
            "    return HttpResponse(\"Hello, reload 1 of run abc!\", content_type=\"text/plain\")\n"
        ));
        assert!(!out.contains("Hello, world!"), "{out}");
        assert_eq!(out.matches("def hello(").count(), 1);
        // Everything before and after the view is as it was.
        let start = EXAMPLE_VIEWS.find("def hello(").expect("hello");
        assert!(out.starts_with(&EXAMPLE_VIEWS[..start]));
        let after = EXAMPLE_VIEWS.find("@csrf_exempt\ndef echo").expect("echo");
        assert!(out.ends_with(&EXAMPLE_VIEWS[after..]));
        assert!(out.contains("content_type=\"text/plain\")\n\n\n@csrf_exempt\ndef echo"));
    }

    #[test]
    fn rewrites_a_view_at_the_end_and_keeps_the_decorated_next_one() {
        let src = "import x\n\n\ndef hello(request):\n    a = 1\n\n    return a\n";
        let out = with_hello_returning(src, "hi").expect("found");
        assert_eq!(
            out,
            "import x\n\n\ndef hello(request):\n    \"\"\"Rewritten by `cargo xtask bench \
             --scenarios reload`.\"\"\"\n    return HttpResponse(\"hi\", \
             content_type=\"text/plain\")\n"
        );
        let src = "def hello(request):\n    return 1\n\n\n@deco\ndef other():\n    pass\n";
        let out = with_hello_returning(src, "hi").expect("found");
        assert!(
            out.ends_with(")\n\n\n@deco\ndef other():\n    pass\n"),
            "{out}"
        );
        // Rewriting twice gives the same text as once.
        let again = with_hello_returning(&out, "hi").expect("found");
        assert_eq!(again, out);
    }

    #[test]
    fn refuses_a_file_without_the_view_or_a_text_needing_escapes() {
        assert!(with_hello_returning("def hello_world():\n    pass\n", "x").is_err());
        assert!(with_hello_returning("class A:\n    def hello(self):\n", "x").is_err());
        assert!(with_hello_returning(EXAMPLE_VIEWS, "say \"hi\"").is_err());
        assert!(with_hello_returning(EXAMPLE_VIEWS, "back\\slash").is_err());
    }

    #[test]
    fn markers_are_plain_and_distinct() {
        let (a, b) = (marker(1, "19a"), marker(2, "19a"));
        assert_ne!(a, b);
        assert_ne!(a, marker(1, "19b"));
        assert!(with_hello_returning(EXAMPLE_VIEWS, &a).is_ok());
        assert_ne!(a, ORIGINAL_TEXT);
    }

    #[test]
    fn restarts_are_counted_from_the_logs() {
        let log = "INFO Watching for changes in 3 directories (autoreload)\n\
                   INFO Reloaded in 0.42 s after a change to demo/views.py\n\
                   INFO Reloaded in 0.40 s after a change to demo/views.py and 2 more\n";
        assert_eq!(ReloadServer::Hurricane.restarts(log), 2);
        let start = "Starting development server at http://127.0.0.1:8000/\n";
        let change = "/x/demo/views.py changed, reloading.\n";
        let log = [start, change, change, start].concat();
        assert_eq!(ReloadServer::Runserver.restarts(&log), 1);
        assert_eq!(ReloadServer::Runserver.restarts(""), 0);
    }

    #[test]
    fn pauses_cover_a_second_evenly() {
        let mut extra: Vec<f64> = (1..=10)
            .map(|e| (pause_after(e) - PAUSE).as_secs_f64())
            .collect();
        extra.sort_by(f64::total_cmp);
        assert!(extra[0] >= 0.0 && extra[9] < 1.0, "{extra:?}");
        // Ten pauses, one in each tenth of the second.
        for (i, x) in extra.iter().enumerate() {
            assert_eq!((x * 10.0).floor() as usize, i, "{extra:?}");
        }
        assert_eq!(pause_after(3), pause_after(3));
    }

    #[test]
    fn summary_of_delays() {
        let delays: Vec<f64> = (1..=10).rev().map(|i| f64::from(i) * 100.0).collect();
        let s = Summary::of(&delays).expect("some");
        assert_eq!(s.median_ms, 550.0);
        assert_eq!(s.p90_ms, 900.0);
        assert_eq!(s.max_ms, 1000.0);
        let s = Summary::of(&[300.0]).expect("one");
        assert_eq!((s.median_ms, s.p90_ms, s.max_ms), (300.0, 300.0, 300.0));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn polls_are_new_old_or_failed() {
        let ok = |body: &str| Ok((200, body.as_bytes().to_vec()));
        assert_eq!(classify(&ok("new"), "old", "new"), Poll::New);
        assert_eq!(classify(&ok("old"), "old", "new"), Poll::Old);
        // A debug page quoting the new source is not the new answer.
        let page = Ok((500, b"... return HttpResponse(\"new\") ...".to_vec()));
        assert!(matches!(classify(&page, "old", "new"), Poll::Failed(w) if w.starts_with("500 ")));
        assert!(matches!(
            classify(&ok("other"), "old", "new"),
            Poll::Failed(_)
        ));
        let refused = Err(ProbeError::Connect(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert!(
            matches!(classify(&refused, "old", "new"), Poll::Failed(w) if w.contains("connect"))
        );
    }

    #[test]
    fn verdicts_check_the_median_and_failed_polls() {
        let s = |m: f64| Summary {
            median_ms: m,
            p90_ms: m,
            max_ms: m,
        };
        let lines = verdicts(&s(400.0), 0, 10, Some(&s(1600.0)));
        assert_eq!(
            lines[0],
            "PASS hurricane median save-to-new-answer < 1 s: 400 ms (runserver 1600 ms, 4.0x faster)"
        );
        assert!(lines[1].starts_with("PASS"), "{}", lines[1]);
        let lines = verdicts(&s(1200.0), 3, 10, None);
        assert!(lines[0].starts_with("FAIL"), "{}", lines[0]);
        assert!(
            lines[0].ends_with("(runserver not measured)"),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("FAIL"), "{}", lines[1]);
        assert!(
            lines[1].contains("3 failed polls over 10 reloads"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn gets_status_and_body() {
        use std::net::TcpListener;
        let serve = |response: &'static [u8]| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            std::thread::spawn(move || {
                if let Ok((mut s, _)) = listener.accept() {
                    let mut req = [0u8; 1024];
                    let _ = s.read(&mut req);
                    let _ = s.write_all(response);
                }
            });
            addr
        };
        let t = Duration::from_secs(2);
        let addr = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(
            prober::get(addr, "/hello", "", t).expect("answer"),
            (200, b"hello".to_vec())
        );
        let addr = serve(b"HTTP/1.0 503 Unavailable\r\n\r\nbroken");
        assert_eq!(
            prober::get(addr, "/hello", "", t).expect("answer"),
            (503, b"broken".to_vec())
        );
        let addr = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel");
        assert!(matches!(
            prober::get(addr, "/hello", "", t),
            Err(ProbeError::Closed)
        ));
    }
}
