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
const NOT_FROM_SETTINGS: [&str; 7] = [
    "pythonpath",
    "app",
    "log_level",
    // Read by the --autoreload supervisor, which never loads Django.
    "autoreload",
    "reload_include",
    "reload_exclude",
    "static_watch",
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
    let long = arg.get_long().unwrap_or_default();
    Command::new("serve")
        .no_binary_name(true)
        .arg(arg.clone().env(None::<&str>).required(false))
        .try_get_matches_from([OsString::from(format!("--{long}")), value.to_owned()])
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
}
