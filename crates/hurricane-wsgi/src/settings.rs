//! Finding the Django settings module, the way `manage.py` users expect.

use std::path::Path;

/// Why no settings module could be determined.
///
/// Like every error of this crate (see the `error` module), a message includes the text
/// of its cause, which is not chained as `source()` too.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// No flag, no environment variable, no `manage.py`.
    #[error(
        "no Django settings module: pass --settings, set DJANGO_SETTINGS_MODULE, or run hurricane in the directory that holds manage.py (or serve another WSGI app with --app module:callable)"
    )]
    NotFound,
    /// `manage.py` does not set `DJANGO_SETTINGS_MODULE`.
    #[error("{path} does not name a settings module: it has no os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...) line; pass --settings")]
    NotInManagePy {
        /// The `manage.py` read.
        path: String,
    },
    /// `manage.py` exists but cannot be read.
    #[error("cannot read {path}: {error}")]
    Unreadable {
        /// The `manage.py` that could not be read.
        path: String,
        /// What the operating system said.
        error: std::io::Error,
    },
}

/// The settings module from, in order: the `--settings` flag, the `DJANGO_SETTINGS_MODULE`
/// environment variable, or the `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`
/// line of `manage.py` in `project_dir`.
pub fn resolve_settings_module(
    flag: Option<&str>,
    environment: Option<&str>,
    project_dir: &Path,
) -> Result<String, SettingsError> {
    if let Some(module) = flag.or(environment).filter(|m| !m.trim().is_empty()) {
        return Ok(module.trim().to_owned());
    }
    let manage_py = project_dir.join("manage.py");
    let source = match std::fs::read_to_string(&manage_py) {
        Ok(source) => source,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(SettingsError::NotFound)
        }
        Err(error) => {
            return Err(SettingsError::Unreadable {
                path: manage_py.display().to_string(),
                error,
            })
        }
    };
    settings_from_manage_py(&source).ok_or_else(|| SettingsError::NotInManagePy {
        path: manage_py.display().to_string(),
    })
}

/// Reads the module name out of `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.y")`.
fn settings_from_manage_py(source: &str) -> Option<String> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.contains("setdefault") && line.contains("DJANGO_SETTINGS_MODULE"))
        .find_map(|line| {
            let after_key =
                &line[line.find("DJANGO_SETTINGS_MODULE")? + "DJANGO_SETTINGS_MODULE".len()..];
            let after_comma = &after_key[after_key.find(',')? + 1..];
            quoted_literal(after_comma.trim_start())
        })
}

/// The contents of the Python string literal at the start of `text` (`'...'` or `"..."`).
fn quoted_literal(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &text[1..];
    let end = rest.find(quote)?;
    let module = &rest[..end];
    (!module.is_empty()).then(|| module.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_setdefault_line_of_a_generated_manage_py() {
        let source = r#"#!/usr/bin/env python
import os
import sys


def main():
    """Run administrative tasks."""
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')
    try:
        from django.core.management import execute_from_command_line
"#;
        assert_eq!(
            settings_from_manage_py(source).as_deref(),
            Some("mysite.settings")
        );
    }

    #[test]
    fn accepts_double_quotes_and_ignores_comments() {
        let source = "# os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'old')\n\
                      os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"conf.prod\")\n";
        assert_eq!(
            settings_from_manage_py(source).as_deref(),
            Some("conf.prod")
        );
    }

    #[test]
    fn no_setdefault_line_means_none() {
        assert_eq!(settings_from_manage_py("import os\n"), None);
    }

    #[test]
    fn flag_wins_over_environment_and_manage_py() {
        let dir = std::env::temp_dir();
        let resolved = resolve_settings_module(Some("a.settings"), Some("b.settings"), &dir);
        assert_eq!(resolved.ok().as_deref(), Some("a.settings"));
        let resolved = resolve_settings_module(None, Some("b.settings"), &dir);
        assert_eq!(resolved.ok().as_deref(), Some("b.settings"));
    }

    #[test]
    fn missing_manage_py_is_a_clear_error() {
        let dir = std::env::temp_dir().join("hurricane-no-such-project");
        let error = resolve_settings_module(None, None, &dir).unwrap_err();
        assert!(error.to_string().contains("pass --settings"), "{error}");
    }
}
