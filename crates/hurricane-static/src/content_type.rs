//! `Content-Type` from a file name.

use http::HeaderValue;

/// Types pinned here rather than left to `mime_guess`, because browsers and tools depend
/// on them and `mime_guess` disagrees for some (`.mjs` as `application/javascript`).
/// The same choices as whitenoise's and nginx's tables.
const PINNED: &[(&str, &str)] = &[
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("wasm", "application/wasm"),
    ("woff2", "font/woff2"),
    ("woff", "font/woff"),
    ("svg", "image/svg+xml"),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
];

const UNKNOWN: &str = "application/octet-stream";

/// The `Content-Type` of a file called `name`: the pinned table first, then
/// `mime_guess`; `text/*` types get `; charset=utf-8`.
pub fn content_type(name: &str) -> HeaderValue {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    if let Some((_, pinned)) = PINNED.iter().find(|(ext, _)| *ext == extension) {
        return HeaderValue::from_static(pinned);
    }
    let guessed = match mime_guess::from_ext(&extension).first() {
        Some(mime)
            if mime.type_() == mime_guess::mime::TEXT && mime.get_param("charset").is_none() =>
        {
            format!("{mime}; charset=utf-8")
        }
        Some(mime) => mime.to_string(),
        None => UNKNOWN.to_owned(),
    };
    HeaderValue::from_str(&guessed).unwrap_or(HeaderValue::from_static(UNKNOWN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_types_win() {
        assert_eq!(content_type("app.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("APP.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("font.woff2"), "font/woff2");
    }

    #[test]
    fn guessed_text_gets_a_charset_and_unknown_is_octet_stream() {
        assert_eq!(content_type("data.csv"), "text/csv; charset=utf-8");
        assert_eq!(content_type("photo.png"), "image/png");
        assert_eq!(content_type("blob.unknownext"), UNKNOWN);
        assert_eq!(content_type("Makefile"), UNKNOWN);
    }
}
