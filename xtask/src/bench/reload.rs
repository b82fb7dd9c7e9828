//! The reload scenario (README.md, "reload"): how long after a developer
//! saves a file the server answers with the new code; the target is a median
//! under 1 s for `hurricane serve --autoreload`, against Django's runserver.
//!
//! Each server runs with `DJANGO_DEBUG=1` in a fresh copy of examples/mysite
//! (the real example is never edited). `--edits` times the hello view is
//! rewritten in place to return a text no earlier version returned; the clock
//! runs from the file's close to the last byte of the first 200 with the new
//! text, polled on a new connection each time. A poll fails on no answer,
//! another status, or a body that is neither the old text nor the new.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};

use super::http::{self, loopback, Outcome};
use super::scenario::{self, find, Needs, Plan, Scenario, ServerRuns, Table};
use super::server::{self, Ports, Server};
use super::{compared, median, percentile, times, verdict, BenchServer, Ctx};
use crate::error::{bail, Context, Result};
use crate::paths;

/// What hurricane's build must have for this scenario.
const NEEDS: Needs = Some(("reload", "has no autoreload"));
#[derive(Parser)]
pub struct Args {
    /// Servers measured, in order (comma separated).
    #[arg(
        long,
        alias = "reload-servers",
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,runserver"
    )]
    pub servers: Vec<ReloadServer>,
    /// Edits of the view (each one reload) per server.
    #[arg(long, alias = "reload-edits", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    edits: u32,
}

/// The target for hurricane's median delay.
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
/// Pause after the server is ready (so that runserver's reloader has taken
/// its first snapshot), and the shortest after an edit has shown.
const PAUSE: Duration = Duration::from_secs(1);

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReloadServer {
    Hurricane,
    Runserver,
}

impl BenchServer for ReloadServer {
    const HURRICANE: Self = ReloadServer::Hurricane;
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

struct Reload<'a> {
    args: &'a Args,
    ctx: &'a Ctx,
    /// Where the copy of the example project goes.
    site: PathBuf,
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<()> {
    let site = ctx.logs.join("reload-site");
    let plan = Plan::new("reload time", &args.servers, NEEDS, "reload", PATH);
    scenario::run(&Reload { args, ctx, site }, plan, ctx)
}

impl Scenario for Reload<'_> {
    type Server = ReloadServer;
    type Measured = Measured;

    /// In a fresh copy of the site, whose view must be one it can rewrite.
    fn command(&self, server: ReloadServer, ports: Ports) -> Result<Command> {
        let site = &self.site;
        if site.exists() {
            fs::remove_dir_all(site).context(|| format!("could not remove {}", site.display()))?;
        }
        copy_dir(&paths::example_project(), site)?;
        let venv = &self.ctx.venv;
        let mut cmd = match server {
            ReloadServer::Hurricane => {
                server::hurricane(venv, None, &["--autoreload"], ports.app, "0")
            }
            ReloadServer::Runserver => {
                let mut c = server::in_project(venv, None, venv.python());
                let address = format!("127.0.0.1:{}", ports.app);
                c.args(["manage.py", "runserver", &address])
                    // Its log lines reach the log file as they are written.
                    .env("PYTHONUNBUFFERED", "1");
                c
            }
        };
        cmd.env("DJANGO_DEBUG", "1").current_dir(site);
        Ok(cmd)
    }

    /// The edits, one after another, then the restarts the log shows.
    fn measure(&self, srv: &mut Server, server: ReloadServer, into: &mut Measured) -> Result<()> {
        let name = server.name();
        let first = http::get(loopback(srv.ports.app), PATH, "", POLL_TIMEOUT);
        if classify(&first, "", ORIGINAL_TEXT) != Poll::New {
            bail!(
                "{name}: GET {PATH} does not answer {ORIGINAL_TEXT:?} before the first edit: {}",
                http::describe(&first)
            );
        }
        sleep(PAUSE);
        let views = self.site.join(VIEWS);
        let original =
            fs::read_to_string(&views).context(|| format!("could not read {}", views.display()))?;
        let (run_id, edits) = (run_id(), self.args.edits);
        let mut old = ORIGINAL_TEXT.to_string();
        for edit in 1..=edits {
            let new = marker(edit, &run_id);
            let text = with_hello_returning(&original, &new);
            // In place (truncate, write, close), as most editors save.
            fs::write(&views, text).context(|| format!("could not write {}", views.display()))?;
            let (saved, polls, failed) = (Instant::now(), into.polls, into.failed);
            let ms = match wait_for(srv, edit, &old, &new, saved, into) {
                Ok(delay) => delay.as_secs_f64() * 1000.0,
                Err(err) => bail!("edit {edit} of {edits}: {err}"),
            };
            println!(
                "xtask bench: {name} edit {edit}/{edits}: new answer after {ms:.0} ms, {} polls, {} failed",
                into.polls - polls,
                into.failed - failed
            );
            into.delays_ms.push(ms);
            old = new;
            sleep(pause_after(edit));
        }
        srv.ensure_running("during the measurement")?;
        srv.stop();
        let log_text = fs::read_to_string(&srv.log).unwrap_or_default();
        into.restarts += server.restarts(&log_text);
        Ok(())
    }

    fn report(&self, runs: &[ServerRuns<ReloadServer, Measured>]) -> Table {
        let rounds = self.ctx.common.rounds_note("{n} rounds pooled");
        let heading = format!(
            "Reload on a copy of examples/mysite ({}): {} edits of {VIEWS} per server, each timed \
             from the save (file closed) to the first 200 of GET {PATH} with the new text, polled \
             every {} ms on a new connection (Connection: close); pauses of {} to {} s between \
             edits; DJANGO_DEBUG=1{rounds}",
            paths::shown(&self.site),
            self.args.edits,
            POLL_INTERVAL.as_millis(),
            PAUSE.as_secs(),
            PAUSE.as_secs() + 1,
        );
        let mut t = Table::new(
            vec![heading],
            "server | >edits | >median ms | >p90 ms | >max ms | >restarts | >polls \
             | >failed polls | >median vs runserver",
        );
        let summary = |server| Summary::of(&find(runs, server)?.delays_ms);
        let peer = summary(ReloadServer::Runserver);
        for run in runs {
            let name = run.server.name();
            let (Some(m), Some(s)) = (run.measured(), summary(run.server)) else {
                t.failed(&[&name]);
                continue;
            };
            let vs = times(s.median_ms, peer.map(|p| p.median_ms));
            let [median, p90, max] = [s.median_ms, s.p90_ms, s.max_ms].map(|v| format!("{v:.0}"));
            let edits = m.delays_ms.len();
            t.row(&[
                &name,
                &edits,
                &median,
                &p90,
                &max,
                &m.restarts,
                &m.polls,
                &m.failed,
                &vs,
            ]);
            if let Some(first) = &m.first_failure {
                t.after
                    .push(format!("note: {name}'s first failed poll: {first}"));
            }
        }
        match (
            find(runs, ReloadServer::Hurricane),
            summary(ReloadServer::Hurricane),
        ) {
            (Some(m), Some(s)) => {
                t.after
                    .extend(verdicts(&s, m.failed, m.delays_ms.len(), peer.as_ref()));
            }
            _ => t
                .after
                .push("target: not checked (hurricane was not measured)".to_string()),
        }
        t
    }
}

/// Copy the project at `from` to `to`, leaving out bytecode caches and
/// collected static files.
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

/// `source` (the example's views.py) with a hello view returning `text`
/// (ASCII, as [`marker`] makes it) defined after everything else: the last
/// `def hello` is the module's `hello`, the one the URLconf's `views.hello`
/// finds, and the rest of the file stays as it was.
fn with_hello_returning(source: &str, text: &str) -> String {
    format!(
        "{source}\n\ndef hello(request):\n    \
         \"\"\"Written by `cargo xtask bench reload`.\"\"\"\n    \
         return HttpResponse({text:?}, content_type=\"text/plain\")\n"
    )
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

fn classify(outcome: &Outcome, old: &str, new: &str) -> Poll {
    match outcome {
        Ok(r) if r.status == 200 && r.body == new.as_bytes() => Poll::New,
        Ok(r) if r.status == 200 && r.body == old.as_bytes() => Poll::Old,
        _ => Poll::Failed(http::describe(outcome)),
    }
}

/// Poll until the new text answers, counting the polls into `into`; the
/// delay counts from `saved`.
fn wait_for(
    srv: &mut Server,
    edit: u32,
    old: &str,
    new: &str,
    saved: Instant,
    into: &mut Measured,
) -> Result<Duration> {
    let addr = loopback(srv.ports.app);
    let (polls, failed) = (into.polls, into.failed);
    let mut next = Instant::now();
    loop {
        sleep(next.saturating_duration_since(Instant::now()));
        let outcome = http::get(addr, PATH, "", POLL_TIMEOUT);
        let done = Instant::now();
        next = (next + POLL_INTERVAL).max(done);
        into.polls += 1;
        match classify(&outcome, old, new) {
            Poll::New => return Ok(done - saved),
            Poll::Old => {}
            Poll::Failed(why) => {
                into.failed += 1;
                into.first_failure.get_or_insert_with(|| {
                    let ms = (done - saved).as_secs_f64() * 1000.0;
                    format!("edit {edit}: {why}, {ms:.0} ms after the save")
                });
            }
        }
        srv.ensure_running("while reloading")?;
        if done - saved > EDIT_TIMEOUT {
            bail!(
                "{} did not answer {new:?} on {PATH} within {}s of the save ({} polls, \
                 {} failed, last: {}); {}",
                srv.name,
                EDIT_TIMEOUT.as_secs(),
                into.polls - polls,
                into.failed - failed,
                http::describe(&outcome),
                srv.output()
            );
        }
    }
}

/// The PASS/FAIL lines for hurricane: the median target (with runserver's
/// median beside it) and no failed poll across the reloads.
fn verdicts(s: &Summary, failed: u64, edits: usize, peer: Option<&Summary>) -> Vec<String> {
    let target = TARGET_MEDIAN_MS / 1000.0;
    let what = format!(
        "hurricane median save-to-new-answer < {target:.0} s: {:.0} ms",
        s.median_ms
    );
    let mut first = verdict(s.median_ms < TARGET_MEDIAN_MS, &what);
    let theirs = peer.map(|p| p.median_ms);
    first.push_str(&compared(
        "runserver",
        s.median_ms,
        theirs,
        0,
        "faster",
        "slower",
    ));
    let second = verdict(
        failed == 0,
        &format!(
            "hurricane failed no request while reloading: {failed} failed polls over {edits} reloads"
        ),
    );
    vec![first, second]
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_VIEWS: &str = include_str!("../../../examples/mysite/demo/views.py");

    #[test]
    fn the_new_hello_view_comes_last_and_returns_the_marker() {
        let (a, b) = (marker(1, "19a"), marker(2, "19a"));
        assert_ne!(a, b);
        assert_ne!(a, marker(1, "19b"));
        assert_ne!(a, ORIGINAL_TEXT);
        let out = with_hello_returning(EXAMPLE_VIEWS, &a);
        assert!(out.starts_with(EXAMPLE_VIEWS));
        let last = out.rfind("\ndef ").expect("a def");
        assert_eq!(
            &out[last..],
            "\ndef hello(request):\n    \"\"\"Written by `cargo xtask bench reload`.\"\"\"\n    \
             return HttpResponse(\"Hello, reload 1 of run 19a!\", content_type=\"text/plain\")\n"
        );
        // The view it replaces is a top-level one, and HttpResponse is imported.
        assert!(EXAMPLE_VIEWS.contains("\ndef hello(request):"));
        assert!(
            EXAMPLE_VIEWS.contains("import HttpResponse")
                || EXAMPLE_VIEWS.contains(" HttpResponse,")
        );
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
        let answer = |status, body: &[u8]| {
            Ok(http::Response {
                status,
                headers: Vec::new(),
                body: body.to_vec(),
            })
        };
        let ok = |body: &str| answer(200, body.as_bytes());
        assert_eq!(classify(&ok("new"), "old", "new"), Poll::New);
        assert_eq!(classify(&ok("old"), "old", "new"), Poll::Old);
        // A debug page quoting the new source is not the new answer.
        let page = answer(500, b"... return HttpResponse(\"new\") ...");
        assert!(matches!(classify(&page, "old", "new"), Poll::Failed(w) if w.starts_with("500 ")));
        assert!(matches!(
            classify(&ok("other"), "old", "new"),
            Poll::Failed(_)
        ));
        let refused = Err(http::HttpError::Failed("could not connect: refused".into()));
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
        let (median, failed) = (
            "hurricane median save-to-new-answer < 1 s",
            "hurricane failed no request while reloading",
        );
        assert_eq!(
            verdicts(&s(400.0), 0, 10, Some(&s(1600.0))),
            [
                format!("PASS {median}: 400 ms (runserver 1600 ms, 4.0x faster)"),
                format!("PASS {failed}: 0 failed polls over 10 reloads"),
            ]
        );
        assert_eq!(
            verdicts(&s(1200.0), 3, 10, None),
            [
                format!("FAIL {median}: 1200 ms (runserver not measured)"),
                format!("FAIL {failed}: 3 failed polls over 10 reloads"),
            ]
        );
    }
}
