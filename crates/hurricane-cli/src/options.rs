//! Where `serve`'s options come from: the command line, then the environment, then the
//! project's Django settings, then the defaults.
//!
//! clap handles the first two and the last (every option has an `env`). The Django
//! settings are only known once Django is set up, so they are applied afterwards: each
//! `HURRICANE_<OPTION>` setting whose option still has its default value becomes one more
//! command-line argument, and the command line is parsed again. Values are checked with
//! the option's own parser first, so that an error names the setting or variable that
//! holds the bad value.

use std::ffi::{OsStr, OsString};

use clap::builder::{BoolishValueParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use hurricane_wsgi::SettingValue;

use crate::cli::{Cli, CommandLine, ServeArgs};

/// Options needed before Django is loaded: they cannot come from its settings.
const NOT_FROM_SETTINGS: [&str; 11] = [
    "pythonpath",
    "app",
    "log_level",
    "log_format",
    // Read by the --autoreload supervisor, which never loads Django.
    "autoreload",
    "reload_include",
    "reload_exclude",
    // Read by the --processes supervisor, which never loads Django either.
    "processes",
    "max_requests",
    "max_requests_jitter",
    "static_watch",
];

/// The Django settings django-hurricane 1.6 read as options, without the `HURRICANE_`
/// prefix (its `PORT` was `--port`), and `LOG_PROBES`, its setting for `--log-probes`.
/// hurricane reads only the prefixed names; a project that still has one of these gets
/// a warning. `DEBUG` is Django's own and left out.
pub const UNPREFIXED_SETTINGS: [&str; 27] = [
    "PORT",
    "STATIC",
    "MEDIA",
    "AUTORELOAD",
    "METRICS",
    "LIVENESS_PROBE",
    "READINESS_PROBE",
    "STARTUP_PROBE",
    "PROBE_PORT",
    "REQ_QUEUE_LEN",
    "NO_PROBE",
    "NO_METRICS",
    "COMMAND",
    "CHECK_MIGRATIONS",
    "CHECK_MIGRATIONS_APPLY",
    "DEBUGGER",
    "DEBUGGER_PORT",
    "WEBHOOK_URL",
    "MAX_LIFETIME",
    "MAX_MEMORY",
    "WORKERS",
    "STATIC_WATCH",
    "PYCHARM_HOST",
    "PYCHARM_PORT",
    "MAX_BODY_SIZE",
    "MAX_BUFFER_SIZE",
    "LOG_PROBES",
];

/// A bad value in the environment or in the Django settings.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("environment variable {name}={value:?}: {problem}")]
    Environment {
        name: String,
        value: String,
        problem: String,
    },
    #[error("Django setting {name} = {value}: {problem}")]
    Setting {
        name: String,
        value: String,
        problem: String,
    },
    #[error("the options from the Django settings do not parse: {0}")]
    Reparse(String),
}

fn serve_command() -> Command {
    let mut cli = Cli::command();
    cli.build();
    cli.find_subcommand("serve")
        .cloned()
        .unwrap_or_else(|| Command::new("serve"))
}

/// Checks every `HURRICANE_*` variable of `serve`'s options with the option's parser,
/// so that a bad value is reported with the variable's name (clap names only the option).
pub fn check_environment() -> Result<(), OptionsError> {
    let command = serve_command();
    for arg in command.get_arguments() {
        let Some(name) = arg.get_env() else { continue };
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        if value.is_empty() {
            continue; // clap treats an empty variable as unset
        }
        if let Err(problem) = validate(&command, arg, &value) {
            return Err(OptionsError::Environment {
                name: name.to_string_lossy().into_owned(),
                value: value.to_string_lossy().into_owned(),
                problem,
            });
        }
    }
    Ok(())
}

/// `args` with the project's `HURRICANE_*` Django settings applied to the options that
/// neither the command line nor the environment set.
pub fn apply_django_settings(
    args: ServeArgs,
    command_line: &CommandLine,
    settings: &[(String, SettingValue)],
) -> Result<ServeArgs, OptionsError> {
    let command = serve_command();
    let mut extra: Vec<OsString> = Vec::new();
    for (name, value) in settings {
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_env() == Some(OsStr::new(name)))
        else {
            tracing::warn!(setting = %name, "unknown Django setting {name} ignored: no `hurricane serve` option has that name");
            continue;
        };
        let id = arg.get_id().as_str();
        if NOT_FROM_SETTINGS.contains(&id) {
            tracing::warn!(setting = %name, "Django setting {name} ignored: it is needed before Django loads; use the command line or the environment");
            continue;
        }
        if matches!(
            command_line.serve.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            tracing::debug!(setting = %name, "Django setting overridden by the command line or the environment");
            continue;
        }
        extra.extend(setting_arguments(&command, arg, name, value)?);
    }
    if extra.is_empty() {
        return Ok(args);
    }
    let argv = command_line.argv.iter().cloned().chain(extra);
    let cli = Cli::command()
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| OptionsError::Reparse(first_line(&e)))?;
    let crate::cli::Command::Serve(args) = cli.command;
    Ok(args)
}

/// Logs the one start-up warning about `defined` (those of [`UNPREFIXED_SETTINGS`] the
/// project defines) that have no `HURRICANE_` counterpart among `settings`, if any.
pub fn warn_about_unprefixed_settings(defined: &[String], settings: &[(String, SettingValue)]) {
    if let Some((names, warning)) = unprefixed_settings_warning(defined, settings) {
        tracing::warn!(settings = %names.join(","), "{warning}");
    }
}

/// The names [`warn_about_unprefixed_settings`] warns about, and its message.
fn unprefixed_settings_warning(
    defined: &[String],
    settings: &[(String, SettingValue)],
) -> Option<(Vec<String>, String)> {
    let command = serve_command();
    let mut names = Vec::new();
    let mut advice = Vec::new();
    for name in defined {
        let prefixed = format!("HURRICANE_{name}");
        if !UNPREFIXED_SETTINGS.contains(&name.as_str())
            || settings.iter().any(|(set, _)| *set == prefixed)
        {
            continue;
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_env() == Some(OsStr::new(&prefixed)));
        advice.push(match arg {
            Some(arg) if NOT_FROM_SETTINGS.contains(&arg.get_id().as_str()) => format!(
                "replace settings.{name} with --{} or {prefixed} in the environment (needed before Django loads)",
                arg.get_long().unwrap_or_default()
            ),
            _ => format!("rename settings.{name} to {prefixed}"),
        });
        names.push(name.clone());
    }
    if names.is_empty() {
        return None;
    }
    let verb = if names.len() == 1 { "is" } else { "are" };
    let subjects: Vec<String> = names.iter().map(|n| format!("settings.{n}")).collect();
    let message = format!(
        "{} {verb} not read by hurricane (django-hurricane 1.6 read unprefixed settings as options): {}",
        subjects.join(", "),
        advice.join("; ")
    );
    Some((names, message))
}

/// The command-line arguments that say what `value` says, checked with `arg`'s parser.
fn setting_arguments(
    command: &Command,
    arg: &Arg,
    name: &str,
    value: &SettingValue,
) -> Result<Vec<OsString>, OptionsError> {
    let bad = |problem: String| OptionsError::Setting {
        name: name.to_owned(),
        value: describe(value),
        problem,
    };
    let long = arg.get_long().unwrap_or_default();
    let is_flag = matches!(arg.get_action(), ArgAction::SetTrue);
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    let flag = |on: bool| {
        if on {
            vec![OsString::from(format!("--{long}"))]
        } else {
            Vec::new()
        }
    };
    match value {
        SettingValue::Flag(on) if is_flag => Ok(flag(*on)),
        SettingValue::Flag(_) => Err(bad(format!("--{long} takes a value, not True/False"))),
        SettingValue::Text(text) if is_flag => BoolishValueParser::new()
            .parse_ref(command, Some(arg), OsStr::new(text))
            .map(flag)
            .map_err(|e| bad(first_line(&e))),
        SettingValue::Text(text) => {
            validate(command, arg, OsStr::new(text)).map_err(bad)?;
            Ok(vec![OsString::from(format!("--{long}={text}"))])
        }
        SettingValue::List(items) if repeatable => items
            .iter()
            .map(|item| {
                validate(command, arg, OsStr::new(item)).map_err(&bad)?;
                Ok(OsString::from(format!("--{long}={item}")))
            })
            .collect(),
        SettingValue::List(_) => Err(bad(format!("--{long} takes one value, not a list"))),
    }
}

/// Runs `arg`'s value parser on `value`; the problem in one line. (clap keeps parsers'
/// entry points private, so this parses `--option value` with a command of that one
/// option.)
fn validate(command: &Command, arg: &Arg, value: &OsStr) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return BoolishValueParser::new()
            .parse_ref(command, Some(arg), value)
            .map(drop)
            .map_err(|e| first_line(&e));
    }
    // `--option=value` in one argument: a value such as `-2` is not taken for an option.
    let mut argument = OsString::from(format!("--{}=", arg.get_long().unwrap_or_default()));
    argument.push(value);
    Command::new("serve")
        .no_binary_name(true)
        .arg(arg.clone().env(None::<&str>).required(false))
        .try_get_matches_from([argument])
        .map(drop)
        .map_err(|e| first_line(&e))
}

/// clap's message without its `error: ` prefix, usage and hints.
fn first_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn describe(value: &SettingValue) -> String {
    match value {
        SettingValue::Flag(true) => "True".into(),
        SettingValue::Flag(false) => "False".into(),
        SettingValue::Text(text) => format!("{text:?}"),
        SettingValue::List(items) => format!("{items:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(id: &str) -> Arg {
        serve_command()
            .get_arguments()
            .find(|a| a.get_id() == id)
            .cloned()
            .expect("the option exists")
    }

    #[test]
    fn settings_become_arguments() {
        let command = serve_command();
        let port = setting_arguments(
            &command,
            &arg("port"),
            "HURRICANE_PORT",
            &SettingValue::Text("9000".into()),
        )
        .expect("a port");
        assert_eq!(port, vec![OsString::from("--port=9000")]);
        let flag = setting_arguments(
            &command,
            &arg("no_metrics"),
            "HURRICANE_NO_METRICS",
            &SettingValue::Flag(true),
        )
        .expect("a flag");
        assert_eq!(flag, vec![OsString::from("--no-metrics")]);
        let off = setting_arguments(
            &command,
            &arg("no_metrics"),
            "HURRICANE_NO_METRICS",
            &SettingValue::Text("off".into()),
        )
        .expect("a flag");
        assert!(off.is_empty());
        let commands = setting_arguments(
            &command,
            &arg("command"),
            "HURRICANE_COMMAND",
            &SettingValue::List(vec!["migrate --noinput".into(), "check".into()]),
        )
        .expect("commands");
        assert_eq!(
            commands,
            vec![
                OsString::from("--command=migrate --noinput"),
                OsString::from("--command=check")
            ]
        );
    }

    #[test]
    fn every_unprefixed_setting_has_a_hurricane_option() {
        let command = serve_command();
        for name in UNPREFIXED_SETTINGS {
            let env = format!("HURRICANE_{name}");
            assert!(
                command
                    .get_arguments()
                    .any(|a| a.get_env() == Some(OsStr::new(&env))),
                "no option reads {env}"
            );
        }
        assert!(!UNPREFIXED_SETTINGS.contains(&"DEBUG"));
    }

    #[test]
    fn unprefixed_settings_get_one_warning_naming_the_new_names() {
        let defined = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let (names, port) =
            unprefixed_settings_warning(&defined(&["PORT"]), &[]).expect("a warning");
        assert_eq!(names, ["PORT"]);
        assert!(
            port.starts_with("settings.PORT is not read by hurricane")
                && port.ends_with("rename settings.PORT to HURRICANE_PORT"),
            "{port}"
        );
        let (_, two) = unprefixed_settings_warning(&defined(&["MEDIA", "AUTORELOAD"]), &[])
            .expect("a warning");
        assert!(
            two.starts_with("settings.MEDIA, settings.AUTORELOAD are not read"),
            "{two}"
        );
        assert!(
            two.contains("replace settings.AUTORELOAD with --autoreload or HURRICANE_AUTORELOAD in the environment"),
            "{two}"
        );
        // Renamed already (the old name kept for django-hurricane), or Django's own.
        let renamed = [(
            "HURRICANE_PORT".to_owned(),
            SettingValue::Text("9000".into()),
        )];
        assert_eq!(
            unprefixed_settings_warning(&defined(&["PORT"]), &renamed),
            None
        );
        assert_eq!(unprefixed_settings_warning(&defined(&["DEBUG"]), &[]), None);
    }

    #[test]
    fn bad_settings_are_named() {
        let command = serve_command();
        let error = setting_arguments(
            &command,
            &arg("port"),
            "HURRICANE_PORT",
            &SettingValue::Text("abc".into()),
        )
        .expect_err("not a port");
        let message = error.to_string();
        assert!(
            message.starts_with("Django setting HURRICANE_PORT = \"abc\": invalid value 'abc'"),
            "{message}"
        );
        let error = setting_arguments(
            &command,
            &arg("port"),
            "HURRICANE_PORT",
            &SettingValue::List(vec!["1".into()]),
        )
        .expect_err("not a list");
        assert!(error.to_string().contains("takes one value"));
    }

    #[test]
    fn a_negative_value_is_checked_as_a_value() {
        let command = serve_command();
        let problem = validate(&command, &arg("timeout"), OsStr::new("-2")).expect_err("negative");
        assert!(problem.contains("must be above 0 seconds"), "{problem}");
        assert!(validate(&command, &arg("timeout"), OsStr::new("2.5")).is_ok());
    }
}
