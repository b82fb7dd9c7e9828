//! Static and media files for hurricane, at the speed of a dedicated web server.
//!
//! What it is for: answering requests under URL prefixes (`/static/`, `/media/`) from
//! directories on disk, with correct HTTP (RFC 9110), so that a Django deployment needs
//! no nginx or whitenoise in front of it:
//! - strong `ETag` and `Last-Modified`; `If-Match`, `If-Unmodified-Since` (412),
//!   `If-None-Match` (weak comparison, lists, `*`) before `If-Modified-Since` (304);
//! - `Range`: single, open and suffix ranges (206), several ranges as
//!   `multipart/byteranges` (or the whole file when they add up to more than it, or are
//!   more than [`MAX_RANGES`]), unsatisfiable or malformed ones 416, `If-Range`;
//! - precompressed siblings (`app.css.br`, `app.css.gz`) chosen by `Accept-Encoding`
//!   q-values, with `Vary` and an `ETag` per encoding;
//! - `Cache-Control`: a year and `immutable` for the hashed names in Django's
//!   `staticfiles.json` ([`Manifest`]), a configurable [`CacheControl`] otherwise;
//! - a pinned `Content-Type` table, `X-Content-Type-Options: nosniff`;
//! - paths that cannot leave their directory: `..`, encoded dots and separators,
//!   backslashes, NUL, drive letters, hidden files and symlinks pointing outside are
//!   404; so are directories (no listings).
//!
//! Files up to [`IN_MEMORY_MAX`] are kept in memory with their validators (per mount,
//! bounded) and looked at on disk again at most once per [`REVALIDATE_AFTER`], so a
//! hot file is answered without a syscall; disk work runs on tokio's blocking pool.
//! Larger files are streamed from disk.
//!
//! A directory may be [`Directory::expected`] rather than [`Directory::open`]: absent
//! at start-up (an upload directory before the first upload), its files are 404 until
//! it appears, looked for at most once per [`REVALIDATE_AFTER`], and served from then
//! on.
//!
//! Use [`WithStaticFiles`] to put [`StaticFiles`] in front of a
//! [`hurricane_core::Handler`], or use [`StaticFiles`] as a tower `Service` on its own.
//! Example: `examples/files.rs` (`cargo run -p hurricane-static --example files`).
//!
//! What it is not for: it holds no Python and knows no Django settings. Which
//! directories to serve under which prefix (`STATIC_ROOT`, the staticfiles finders'
//! directories, `MEDIA_ROOT`) is worked out by the CLI at start-up. No compression on
//! the fly, no directory listings or index files, no uploads.

#![forbid(unsafe_code)]

mod cache;
mod conditional;
mod content_type;
mod directory;
mod encoding;
mod error;
mod file;
mod manifest;
mod mount;
mod path;
mod range;
mod response;
mod service;

pub use cache::REVALIDATE_AFTER;
pub use content_type::content_type;
pub use directory::Directory;
pub use error::StaticError;
pub use file::IN_MEMORY_MAX;
pub use manifest::Manifest;
pub use mount::{CacheControl, Mount};
pub use range::MAX_RANGES;
pub use service::{StaticFiles, WithStaticFiles};
