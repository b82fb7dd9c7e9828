//! The one measure-and-report routine: every scenario says how to start each
//! server and what one round measures, and [`run`] does the rest — the check
//! that hurricane's build has what the scenario measures, free ports, start,
//! readiness, the rounds, stop, one [`Table`], and an error naming every server
//! that could not be measured (after the table, which is printed anyway). A
//! server the scenario skips (see [`Scenario::skip`]) gets a row and a reason,
//! not an error.

use std::fmt::Display;
use std::process::Command;
use std::time::Duration;

use clap::ValueEnum;

use super::server::{Ports, Server};
use super::{machine_line, BenchServer, Ctx};
use crate::cmd::{Hint, Run};
use crate::error::{bail, Result};
use crate::paths;

/// What a scenario measures that not every build of hurricane has: the cargo
/// feature of hurricane-cli, as `hurricane --version` lists it, and what a
/// build without it lacks, e.g. `Some(("probe", "serves no probes"))`.
pub type Needs = Option<(&'static str, &'static str)>;

/// One server of a scenario: what its rounds measured, or why it could not be measured.
pub struct ServerRuns<S, T> {
    pub server: S,
    pub outcome: Outcome<T>,
}

/// What became of one server of a scenario.
pub enum Outcome<T> {
    /// What its rounds measured (so far).
    Measured(T),
    /// It could not be measured (the error was printed then): the scenario fails.
    Failed,
    /// Why it was not started, e.g. this build lacks an option it needs: the
    /// scenario does not fail for it.
    Skipped(String),
}

impl<S: BenchServer, T> ServerRuns<S, T> {
    pub fn measured(&self) -> Option<&T> {
        match &self.outcome {
            Outcome::Measured(t) => Some(t),
            _ => None,
        }
    }

    /// Why it was skipped, if it was.
    pub fn skipped(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Skipped(why) => Some(why),
            _ => None,
        }
    }
}

/// What `server`'s rounds measured, if it was measured.
pub fn find<S: BenchServer, T>(runs: &[ServerRuns<S, T>], server: S) -> Option<&T> {
    runs.iter().find(|r| r.server == server)?.measured()
}

/// What a scenario compares, and how it names it.
pub struct Plan<'a, S> {
    /// Names the measure in messages, e.g. "req/s of /hello".
    pub what: String,
    pub servers: &'a [S],
    pub needs: Needs,
    /// The scenario's subcommand (hello: with its workload, "hello-cpu"); a
    /// server's log is `target/bench/<name>-<server>.log`.
    pub name: String,
    /// The app path polled until it answers 200 before measuring.
    pub ready_path: String,
}

impl<'a, S> Plan<'a, S> {
    pub fn new(
        what: impl Into<String>,
        servers: &'a [S],
        needs: Needs,
        name: impl Into<String>,
        ready_path: impl Into<String>,
    ) -> Self {
        Plan {
            what: what.into(),
            servers,
            needs,
            name: name.into(),
            ready_path: ready_path.into(),
        }
    }
}

/// How a scenario starts, measures and reports on each server of its [`Plan`].
pub trait Scenario {
    type Server: BenchServer;
    /// What the rounds of one server add up to.
    type Measured: Default;
    /// How `server` is started on `ports`.
    fn command(&self, server: Self::Server, ports: Ports) -> Result<Command>;
    /// One round against the running server, added to what earlier rounds measured.
    fn measure(
        &self,
        srv: &mut Server,
        server: Self::Server,
        into: &mut Self::Measured,
    ) -> Result<()>;
    /// The table of every server's figures, with its PASS/FAIL lines.
    fn report(&self, runs: &[ServerRuns<Self::Server, Self::Measured>]) -> Table;
    /// Why `server` is not measured at all (asked once, before the first
    /// round), e.g. hurricane's build does not have an option yet; `None` to
    /// measure it.
    fn skip(&self, _server: Self::Server) -> Result<Option<String>> {
        Ok(None)
    }
}

/// Measures every server of `scenario` in every round, in order (hurricane
/// only if its build has what the scenario needs); a server that fails is
/// reported and not measured again, one the scenario skips is not started.
/// Then the table.
pub fn run<S: Scenario>(scenario: &S, plan: Plan<'_, S::Server>, ctx: &Ctx) -> Result<()> {
    let what = &plan.what;
    let rounds = ctx.common.rounds;
    let mut runs: Vec<ServerRuns<S::Server, S::Measured>> = plan
        .servers
        .iter()
        .map(|&server| ServerRuns {
            server,
            outcome: first_outcome(scenario, server, what),
        })
        .collect();
    for round in 1..=rounds {
        if rounds > 1 {
            println!("xtask bench: {what} round {round}/{rounds}");
        }
        for run in runs.iter_mut() {
            let Outcome::Measured(measured) = &mut run.outcome else {
                continue;
            };
            if let Err(e) = one_round(scenario, &plan, ctx, run.server, measured) {
                eprintln!("xtask bench: {} {what} FAILED: {e}", run.server.name());
                run.outcome = Outcome::Failed;
            }
        }
    }
    let mut table = scenario.report(&runs);
    table.heading.insert(1, machine_line(&ctx.venv));
    table.print();
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed))
        .map(|r| r.server.name())
        .collect();
    if !failed.is_empty() {
        bail!(
            "could not measure the {what} of: {} (see above)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Nothing measured yet, or why `server` is skipped (or could not even be
/// checked).
fn first_outcome<S: Scenario>(scenario: &S, server: S::Server, what: &str) -> Outcome<S::Measured> {
    match scenario.skip(server) {
        Ok(None) => Outcome::Measured(S::Measured::default()),
        Ok(Some(why)) => {
            println!("xtask bench: {} {what} skipped: {why}", server.name());
            Outcome::Skipped(why)
        }
        Err(e) => {
            eprintln!("xtask bench: {} {what} FAILED: {e}", server.name());
            Outcome::Failed
        }
    }
}

fn one_round<S: Scenario>(
    scenario: &S,
    plan: &Plan<'_, S::Server>,
    ctx: &Ctx,
    server: S::Server,
    into: &mut S::Measured,
) -> Result<()> {
    if let (Some(needs), true) = (plan.needs, server == S::Server::HURRICANE) {
        check_hurricane_has::<S>(needs, &plan.name)?;
    }
    let ports = Ports::free()?;
    let cmd = scenario.command(server, ports)?;
    let name = server.name();
    let log = ctx.logs.join(format!("{}-{name}.log", plan.name));
    let mut srv = Server::start(&name, ports, cmd, log)?;
    srv.wait_ready(ports.app, &plan.ready_path, Duration::from_secs(60))?;
    scenario.measure(&mut srv, server, into)?;
    srv.ensure_running("during the measurement")?;
    srv.stop();
    Ok(())
}

/// Fails, naming what is missing, when the hurricane binary was built without
/// the feature `needs` names (from the `features:` line of `hurricane
/// --version`), instead of letting it fail on an option it refuses.
fn check_hurricane_has<S: Scenario>((feature, missing): (&str, &str), name: &str) -> Result<()> {
    let bin = paths::hurricane_bin();
    let version = Command::new(&bin)
        .arg("--version")
        .read()
        .hint("build it with `cargo build --release -p hurricane-cli`")?;
    let built = version
        .lines()
        .find_map(|line| line.strip_prefix("features:"))
        .is_some_and(|features| features.split_whitespace().any(|f| f == feature));
    if !built {
        let peers: Vec<String> = S::Server::value_variants()
            .iter()
            .filter(|&&s| s != S::Server::HURRICANE)
            .map(|s| s.name())
            .collect();
        bail!(
            "{} was built without the feature `{feature}`: this build {missing}\n  \
             hint: rebuild, or measure the peers alone: `cargo xtask bench {name} --servers {}`",
            bin.display(),
            peers.join(",")
        );
    }
    Ok(())
}

/// A scenario's report: heading lines (the machine's comes second), a
/// Markdown table, then the lines under it (warnings, notes, PASS/FAIL/SKIP).
pub struct Table {
    heading: Vec<String>,
    columns: Vec<String>,
    rows: Vec<String>,
    pub after: Vec<String>,
}

impl Table {
    /// `columns` as in the table's head, "server | >req/s | ...": a column
    /// name starting with `>` is right-aligned (the `>` is not shown).
    pub fn new(heading: Vec<String>, columns: &str) -> Table {
        Table {
            heading,
            columns: columns.split('|').map(|c| c.trim().to_string()).collect(),
            rows: Vec::new(),
            after: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: &[&dyn Display]) {
        let cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        self.rows.push(format!("| {} |", cells.join(" | ")));
    }

    /// The row of a server that could not be measured: `lead` (the cells that
    /// name it), "failed", then "-" in every other column.
    pub fn failed(&mut self, lead: &[&dyn Display]) {
        self.marked(lead, "failed");
    }

    /// The row of a server that was skipped: as [`Table::failed`], "skipped".
    pub fn skipped(&mut self, lead: &[&dyn Display]) {
        self.marked(lead, "skipped");
    }

    fn marked(&mut self, lead: &[&dyn Display], word: &str) {
        let mut cells: Vec<&dyn Display> = lead.to_vec();
        cells.push(&word);
        cells.resize(self.columns.len(), &"-");
        self.row(&cells);
    }

    pub fn print(&self) {
        println!();
        for line in &self.heading {
            println!("{line}");
        }
        println!();
        let names: Vec<&str> = self
            .columns
            .iter()
            .map(|c| c.strip_prefix('>').unwrap_or(c))
            .collect();
        let rules: Vec<&str> = self
            .columns
            .iter()
            .map(|c| if c.starts_with('>') { "---:" } else { "---" })
            .collect();
        println!("| {} |", names.join(" | "));
        println!("| {} |", rules.join(" | "));
        for row in &self.rows {
            println!("{row}");
        }
        println!();
        for line in &self.after {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_rows_fill_every_column() {
        let mut t = Table::new(vec![], "load | server | >req/s | >p99 ms | answers");
        t.failed(&[&"idle", &"hurricane"]);
        t.row(&[&"idle", &"nginx", &12, &format!("{:.2}", 1.5), &"200×3"]);
        assert_eq!(t.rows[0], "| idle | hurricane | failed | - | - |");
        assert_eq!(t.rows[1], "| idle | nginx | 12 | 1.50 | 200×3 |");
    }

    #[test]
    fn skipped_rows_fill_every_column() {
        let mut t = Table::new(vec![], "server | >req/s | >p99 ms");
        t.skipped(&[&"hurricane-p2"]);
        assert_eq!(t.rows[0], "| hurricane-p2 | skipped | - |");
    }
}
