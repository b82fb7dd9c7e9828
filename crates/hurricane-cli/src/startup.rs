//! The Python half of start-up: system checks, loading the application, management
//! commands and migrations. It runs on a thread of its own ("hurricane-startup") while
//! the probe server already answers (startup probe 400), and it takes the GIL there.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Migrations, StartupOptions};
use crate::files::{self, Files, FilesError};
use hurricane_wsgi::{Application, DjangoProject, Interpreter, LoadError, PythonError};

/// How often `--check-migrations` looks again.
const MIGRATION_POLL: Duration = Duration::from_secs(1);

/// What to load.
#[derive(Debug)]
pub enum AppSource {
    Django(DjangoProject),
    /// `--app module:callable`.
    Callable(String),
}

/// One `--command`: as the user wrote it, and split as a shell would.
#[derive(Debug, Clone)]
pub struct ManagementCommand {
    pub text: String,
    pub argv: Vec<String>,
}

impl ManagementCommand {
    pub fn parse(text: &str) -> Result<Self, StartupError> {
        match shlex::split(text) {
            Some(argv) if !argv.is_empty() => Ok(Self {
                text: text.to_owned(),
                argv,
            }),
            Some(_) => Err(StartupError::BadCommand {
                command: text.to_owned(),
                problem: "it is empty",
            }),
            None => Err(StartupError::BadCommand {
                command: text.to_owned(),
                problem: "its quotes are not balanced",
            }),
        }
    }
}

/// The start-up steps: what to load, and what to do before serving it.
#[derive(Debug)]
pub struct StartupPlan {
    pub source: AppSource,
    pub options: StartupOptions,
}

impl StartupOptions {
    /// The `--command`s as the user wrote them, for `hurricane_info`.
    pub fn command_texts(&self) -> String {
        let texts: Vec<&str> = self.commands.iter().map(|c| c.text.as_str()).collect();
        texts.join("; ")
    }
}

/// The application's own checks, for the liveness and readiness probes (nothing in a
/// build without them, cargo feature `probe`).
#[cfg(feature = "probe")]
pub type AppChecks = hurricane_wsgi::PythonHealth;
#[cfg(not(feature = "probe"))]
pub type AppChecks = ();

/// The checks of a Django project (its tagged checks and databases), or of a bare WSGI
/// callable (the interpreter answering).
#[cfg(feature = "probe")]
fn app_checks(django: bool) -> AppChecks {
    if django {
        hurricane_wsgi::PythonHealth::django()
    } else {
        hurricane_wsgi::PythonHealth::interpreter()
    }
}

#[cfg(not(feature = "probe"))]
fn app_checks(_django: bool) -> AppChecks {}

/// Start-up is done: the application and its health checks.
pub struct Started {
    pub application: Application,
    pub health: AppChecks,
    /// Served ahead of the application.
    pub files: Files,
    /// Where uploads go: an `--autoreload` supervisor must not reload for them.
    pub media_root: Option<PathBuf>,
}

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("--command {command:?} cannot be run: {problem}")]
    BadCommand {
        command: String,
        problem: &'static str,
    },
    #[error("--command, --check-migrations, --check-migrations-apply, --static and --media need a Django project, not --app")]
    NotDjango,
    #[error("management command {command:?} failed: {error}")]
    Command { command: String, error: PythonError },
    #[error("the migration check failed: {0}")]
    Migrations(PythonError),
    #[error(transparent)]
    Files(#[from] FilesError),
}

impl StartupError {
    /// The Python traceback behind the failure, if there is one (logged before the
    /// message; webhooks send it).
    pub fn traceback(&self) -> Option<&str> {
        match self {
            StartupError::Command { error, .. } | StartupError::Migrations(error) => {
                Some(&error.traceback)
            }
            StartupError::Load(error) => error.traceback(),
            _ => None,
        }
    }
}

/// Runs the plan. Blocks, and takes the GIL: call it on the start-up thread.
pub fn run(interpreter: &Interpreter, plan: StartupPlan) -> Result<Started, StartupError> {
    let StartupPlan {
        source,
        options: plan,
    } = plan;
    let project = match source {
        AppSource::Callable(target) => {
            if !plan.commands.is_empty()
                || plan.migrations != Migrations::Ignore
                || plan.files.wanted()
            {
                return Err(StartupError::NotDjango);
            }
            let application = interpreter.load_callable(&target, plan.bridge)?;
            return Ok(Started {
                application,
                health: app_checks(false),
                files: Files::default(),
                media_root: None,
            });
        }
        AppSource::Django(project) => project,
    };
    if plan.run_checks {
        project.run_system_checks()?;
    }
    let application = project.application(plan.bridge)?;
    for command in &plan.commands {
        tracing::info!(command = %command.text, "Running management command");
        project
            .run_command(&command.argv)
            .map_err(|error| StartupError::Command {
                command: command.text.clone(),
                error,
            })?;
    }
    settle_migrations(&project, plan.migrations)?;
    // After the commands: `--command "collectstatic --noinput"` may create STATIC_ROOT.
    // Read even without --static/--media, for MEDIA_ROOT; only fatal when needed.
    let (files, media_root) = if plan.files.wanted() {
        let settings = project.file_settings()?;
        (
            files::from_settings(&plan.files, &settings)?,
            settings.media_root,
        )
    } else {
        let media_root = project.file_settings().ok().and_then(|s| s.media_root);
        (Files::default(), media_root)
    };
    Ok(Started {
        application,
        health: app_checks(true),
        files,
        media_root,
    })
}

/// `--check-migrations`: polls until nothing is pending. `--check-migrations-apply`:
/// applies what is pending. A database that cannot be reached yet (its proxy sidecar is
/// still starting, say) is waited for as well; the startup probe bounds the wait.
fn settle_migrations(project: &DjangoProject, policy: Migrations) -> Result<(), StartupError> {
    if policy == Migrations::Ignore {
        return Ok(());
    }
    let mut unreachable_logged = false;
    loop {
        match project.pending_migrations() {
            Ok(pending) if pending.is_empty() => {
                tracing::info!("All migrations are applied");
                return Ok(());
            }
            Ok(pending) if policy == Migrations::Apply => {
                tracing::info!(pending = pending.len(), "Applying pending migrations");
                project
                    .apply_migrations()
                    .map_err(StartupError::Migrations)?;
            }
            Ok(pending) => {
                tracing::info!(
                    pending = pending.len(),
                    first = %pending[0],
                    "Migrations are pending; checking again in 1 s"
                );
                std::thread::sleep(MIGRATION_POLL);
            }
            Err(error) if error.database => {
                if !unreachable_logged {
                    tracing::warn!(error = %error.message, "The database cannot be reached; waiting for it");
                    unreachable_logged = true;
                }
                std::thread::sleep(MIGRATION_POLL);
            }
            Err(error) => return Err(StartupError::Migrations(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_split_as_a_shell_would() {
        let command = ManagementCommand::parse("echo_args 'a b' c \"d e\"").expect("balanced");
        assert_eq!(command.argv, ["echo_args", "a b", "c", "d e"]);
        assert!(matches!(
            ManagementCommand::parse("migrate 'oops"),
            Err(StartupError::BadCommand { .. })
        ));
        assert!(matches!(
            ManagementCommand::parse("   "),
            Err(StartupError::BadCommand { .. })
        ));
    }
}
