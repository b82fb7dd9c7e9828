//! `--static` and `--media`: which directories are served under which URL path, worked
//! out once from the Django settings at start-up (cargo feature `static`).

use hurricane_core::Handler;
use hurricane_wsgi::FileSettings;

/// What the command line asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    pub serve_static: bool,
    pub serve_media: bool,
    /// `--static-max-age`; `None` for the default.
    #[cfg_attr(not(feature = "static"), allow(dead_code))]
    pub static_max_age: Option<u32>,
}

impl FileOptions {
    pub fn wanted(&self) -> bool {
        self.serve_static || self.serve_media
    }
}

/// Why the files cannot be served as asked. (A message includes its cause's text; the
/// cause is not chained as a `source` too.)
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(feature = "static"), allow(dead_code))]
pub enum FilesError {
    #[error("--{option} needs the Django setting {setting}: set it to the URL path the files are served under, such as \"{example}\"")]
    NoUrl {
        option: &'static str,
        setting: &'static str,
        example: &'static str,
    },
    #[error("--{option}: the Django setting {setting} ({url:?}) must be a path of its own, such as \"{example}\", not \"/\" (that would hide every Django URL)")]
    CatchAll {
        option: &'static str,
        setting: &'static str,
        url: String,
        example: &'static str,
    },
    #[error("--{option} needs the Django setting {setting}: {hint}")]
    NoRoot {
        option: &'static str,
        setting: &'static str,
        hint: &'static str,
    },
    #[cfg(feature = "static")]
    #[error(
        "--{option}: the Django setting {setting} names a directory that cannot be served: {error}"
    )]
    Root {
        option: &'static str,
        setting: &'static str,
        error: hurricane_static::StaticError,
    },
    #[cfg(not(feature = "static"))]
    #[error("--static and --media need a hurricane built with the cargo feature `static`")]
    NotBuilt,
}

#[cfg(feature = "static")]
pub use enabled::{from_settings, in_front_of, Files};

#[cfg(not(feature = "static"))]
pub use disabled::{from_settings, in_front_of, Files};

#[cfg(feature = "static")]
mod enabled {
    use std::path::Path;
    use std::time::Duration;

    use hurricane_static::{
        CacheControl, Directory, Manifest, Mount, StaticFiles, WithStaticFiles,
    };

    use super::*;

    pub type Files = StaticFiles;

    /// Max-age of static files without a content hash in their name, unless
    /// `--static-max-age` says otherwise; with DEBUG on it is 0, so edits show at once.
    const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    /// The mounts `options` asks for, from `settings` (read after the start-up commands
    /// ran, so `--command "collectstatic --noinput"` may create STATIC_ROOT).
    pub fn from_settings(
        options: &FileOptions,
        settings: &FileSettings,
    ) -> Result<Files, FilesError> {
        let mut mounts = Vec::new();
        if options.serve_static {
            mounts.push(static_mount(options, settings)?);
        }
        if options.serve_media {
            mounts.push(media_mount(settings)?);
        }
        Ok(StaticFiles::new(mounts))
    }

    /// MEDIA_ROOT need not exist: Django's storage creates it at the first upload, so on
    /// a fresh deployment (or an empty volume) it is served from when it appears.
    fn media_mount(settings: &FileSettings) -> Result<Mount, FilesError> {
        let prefix = url_prefix("media", "MEDIA_URL", "/media/", &settings.media_url)?;
        let path = root_path(
            "media",
            "MEDIA_ROOT",
            "set it to the directory uploads are stored in",
            settings.media_root.as_deref(),
        )?;
        let root =
            Directory::expected(path).map_err(|error| root_error("media", "MEDIA_ROOT", error))?;
        let shown = root.root().display();
        if root.is_waiting() {
            tracing::warn!(prefix, root = %shown, "MEDIA_ROOT {shown} does not exist yet: files under {prefix} are 404 until it is created (Django creates it at the first upload), then served from it without a restart");
        } else {
            tracing::info!(prefix, root = %shown, "Serving media files under {prefix} from {shown}");
        }
        Ok(Mount::new(prefix, vec![root])
            .map_err(|error| root_error("media", "MEDIA_URL", error))?
            // Uploads may be replaced or deleted: clients ask again every time.
            .cache_control(CacheControl::NoCache))
    }

    fn static_mount(options: &FileOptions, settings: &FileSettings) -> Result<Mount, FilesError> {
        let prefix = url_prefix("static", "STATIC_URL", "/static/", &settings.static_url)?;
        let max_age = options.static_max_age.map_or(
            if settings.debug {
                Duration::ZERO
            } else {
                DEFAULT_MAX_AGE
            },
            |seconds| Duration::from_secs(seconds.into()),
        );
        let mount = match &settings.finders {
            Some(finders) => {
                let directories = finders
                    .directories
                    .iter()
                    .map(|(sub_prefix, path)| {
                        Directory::open(path)
                            .map(|d| d.under(sub_prefix))
                            .map_err(|error| root_error("static", "STATICFILES_DIRS", error))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                tracing::info!(prefix, directories = directories.len(),
                    "Serving static files under {prefix} through Django's staticfiles finders (DEBUG)");
                for finder in &finders.unlisted {
                    tracing::warn!(%finder, "static files found by {finder} are not served: it keeps them in no directory of its own");
                }
                Mount::new(prefix, directories)
            }
            None => {
                let path = root_path(
                    "static",
                    "STATIC_ROOT",
                    "set it to the directory `manage.py collectstatic` writes to",
                    settings.static_root.as_deref(),
                )?;
                // Unlike MEDIA_ROOT, it must exist: collectstatic has to have run.
                let root = Directory::open(path)
                    .map_err(|error| root_error("static", "STATIC_ROOT", error))?;
                tracing::info!(prefix, root = %root.root().display(), "Serving static files under {prefix} from {}", root.root().display());
                let manifest = settings.manifest.as_ref().map(Manifest::new);
                Mount::new(prefix, vec![root]).map(|mount| match manifest {
                    Some(manifest) => mount.immutable_names(manifest),
                    None => mount,
                })
            }
        };
        Ok(mount
            .map_err(|error| root_error("static", "STATIC_URL", error))?
            .cache_control(CacheControl::MaxAge(max_age)))
    }

    /// The setting's directory, which must be set.
    fn root_path<'a>(
        option: &'static str,
        setting: &'static str,
        hint: &'static str,
        path: Option<&'a Path>,
    ) -> Result<&'a Path, FilesError> {
        path.ok_or(FilesError::NoRoot {
            option,
            setting,
            hint,
        })
    }

    fn root_error(
        option: &'static str,
        setting: &'static str,
        error: hurricane_static::StaticError,
    ) -> FilesError {
        FilesError::Root {
            option,
            setting,
            error,
        }
    }

    /// The settings's URL path, which must be a prefix of its own.
    fn url_prefix<'a>(
        option: &'static str,
        setting: &'static str,
        example: &'static str,
        url: &'a str,
    ) -> Result<&'a str, FilesError> {
        match url {
            "" => Err(FilesError::NoUrl {
                option,
                setting,
                example,
            }),
            "/" => Err(FilesError::CatchAll {
                option,
                setting,
                url: url.to_owned(),
                example,
            }),
            url => Ok(url),
        }
    }

    /// `app` with the files answered ahead of it.
    pub fn in_front_of<A: Handler>(files: Files, app: A) -> impl Handler {
        WithStaticFiles::new(files, app)
    }
}

#[cfg(not(feature = "static"))]
mod disabled {
    use super::*;

    /// Nothing to serve: this build has no `hurricane-static`.
    #[derive(Debug, Clone, Default)]
    pub struct Files(());

    pub fn from_settings(_: &FileOptions, _: &FileSettings) -> Result<Files, FilesError> {
        Err(FilesError::NotBuilt)
    }

    pub fn in_front_of<A: Handler>(_: Files, app: A) -> impl Handler {
        app
    }
}
