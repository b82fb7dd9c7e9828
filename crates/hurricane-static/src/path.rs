//! From the part of a URL path below a mount to a relative file path that cannot leave
//! the directory.

use percent_encoding::percent_decode_str;

/// A decoded relative path of normal segments, separated by `/`: no empty, `.`, `..` or
/// hidden segments, no backslash, colon or NUL. Joined to a root directory it names a
/// path inside that directory (symlinks aside: those are checked on disk).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafePath(String);

impl SafePath {
    /// Checks `raw`, the still percent-encoded path below a mount's prefix (without the
    /// query). `None` means the request cannot name a file we serve: answer 404.
    ///
    /// Encoded dots, slashes, backslashes and NULs are refused before decoding, rather
    /// than decoded and checked, because no real file name needs them and a proxy in
    /// front may decode them differently from us.
    pub fn parse(raw: &str) -> Option<Self> {
        if has_encoded_separator(raw) {
            return None;
        }
        let decoded = percent_decode_str(raw).decode_utf8().ok()?;
        if decoded.split('/').all(is_normal_segment) {
            Some(Self(decoded.into_owned()))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `%2e` (.), `%2f` (/), `%5c` (\) or `%00` in either case.
fn has_encoded_separator(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'e') | (b'2', b'f') | (b'5', b'c') | (b'0', b'0')
            )
    })
}

/// A segment naming a visible entry: not empty (`//`, a trailing `/`), not hidden
/// (`.`, `..`, `.env`), and free of characters that mean something else on some
/// system (`\`, a drive's `:`, NUL).
fn is_normal_segment(segment: &str) -> bool {
    !segment.is_empty() && !segment.starts_with('.') && !segment.contains(['\\', ':', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_nested_paths_pass() {
        assert_eq!(SafePath::parse("app.css").unwrap().as_str(), "app.css");
        assert_eq!(
            SafePath::parse("css/site.3f2a.css").unwrap().as_str(),
            "css/site.3f2a.css"
        );
    }

    #[test]
    fn percent_encoded_utf8_is_decoded() {
        assert_eq!(
            SafePath::parse("%E4%BD%A0%E5%A5%BD.txt").unwrap().as_str(),
            "你好.txt"
        );
        assert_eq!(SafePath::parse("a%20b.txt").unwrap().as_str(), "a b.txt");
    }

    #[test]
    fn escapes_and_oddities_are_refused() {
        for raw in [
            "",
            "../secret",
            "css/../../secret",
            "./app.css",
            "%2e%2e/secret",
            "%2E%2E/secret",
            "css%2fapp.css",
            "css%2Fapp.css",
            "css%5capp.css",
            "css\\app.css",
            "app.css%00.png",
            "/etc/passwd",
            "css//app.css",
            "css/",
            "C:/Windows/win.ini",
            "C%3A/Windows/win.ini",
            ".env",
            "css/.hidden",
            "%FF%FE.txt",
        ] {
            assert_eq!(SafePath::parse(raw), None, "{raw:?} must be refused");
        }
    }
}
