//! Precompressed siblings (`app.css.br`, `app.css.gz`) and `Accept-Encoding`.

use http::HeaderValue;

/// A content coding a file can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The compressed codings, in the order preferred when the client likes them equally:
    /// brotli is the smaller.
    pub const COMPRESSED: [Encoding; 2] = [Encoding::Brotli, Encoding::Gzip];

    /// The sibling file's suffix, as whitenoise's `CompressedManifestStaticFilesStorage`
    /// and `gzip_static` write them.
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Identity => "",
            Encoding::Gzip => ".gz",
            Encoding::Brotli => ".br",
        }
    }

    /// `Content-Encoding`, none for identity.
    pub fn header(self) -> Option<HeaderValue> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some(HeaderValue::from_static("gzip")),
            Encoding::Brotli => Some(HeaderValue::from_static("br")),
        }
    }

    /// Token(s) naming this coding in `Accept-Encoding`.
    fn matches(self, token: &str) -> bool {
        match self {
            Encoding::Identity => token.eq_ignore_ascii_case("identity"),
            Encoding::Gzip => {
                token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip")
            }
            Encoding::Brotli => token.eq_ignore_ascii_case("br"),
        }
    }
}

/// Picks the representation to send: of `available` compressed codings (in order of
/// preference, as [`Encoding::COMPRESSED`]), the one the client weighs highest (`q`);
/// identity when nothing compressed weighs more.
///
/// RFC 9110 §12.5.3: `*` stands for codings not named; `q=0` means "not acceptable";
/// identity is acceptable unless excluded by `identity;q=0` or `*;q=0`. With no header
/// the client gets identity. When even identity is excluded, identity is sent anyway
/// (the RFC allows that instead of a 406, and every client can read it).
pub fn negotiate(
    accept_encoding: Option<&HeaderValue>,
    available: impl IntoIterator<Item = Encoding>,
) -> Encoding {
    let Some(header) = accept_encoding.and_then(|v| v.to_str().ok()) else {
        return Encoding::Identity;
    };
    let preferences = parse(header);
    let weight = |encoding: Encoding| {
        let named = preferences
            .iter()
            .find(|(token, _)| encoding.matches(token))
            .map(|(_, q)| *q);
        let star = preferences
            .iter()
            .find(|(token, _)| *token == "*")
            .map(|(_, q)| *q);
        match (named, star, encoding) {
            (Some(q), _, _) | (None, Some(q), _) => q,
            (None, None, Encoding::Identity) => 1,
            (None, None, _) => 0,
        }
    };
    let mut best = (Encoding::Identity, weight(Encoding::Identity));
    for encoding in available {
        let q = weight(encoding);
        // Strictly higher than identity's, or equal: a compressed coding the client
        // accepts as readily as identity is the better answer.
        if q > 0 && (q > best.1 || (q == best.1 && best.0 == Encoding::Identity)) {
            best = (encoding, q);
        }
    }
    best.0
}

/// `(token, q × 1000)` for each member of an `Accept-Encoding` value. Members with an
/// unreadable `q` are dropped.
fn parse(header: &str) -> Vec<(&str, u16)> {
    header
        .split(',')
        .filter_map(|member| {
            let mut parts = member.split(';');
            let token = parts.next()?.trim();
            if token.is_empty() {
                return None;
            }
            let mut q = 1000;
            for param in parts {
                let (name, value) = param.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_qvalue(value.trim())?;
                }
            }
            Some((token, q))
        })
        .collect()
}

/// RFC 9110 `qvalue`: `0`, `0.5`, `1.000`, in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::*;

    fn pick(header: Option<&str>, available: &[Encoding]) -> Encoding {
        let value = header.map(|h| HeaderValue::from_str(h).unwrap());
        negotiate(value.as_ref(), available.iter().copied())
    }

    #[test]
    fn no_header_or_no_sibling_is_identity() {
        assert_eq!(pick(None, &[Brotli, Gzip]), Identity);
        assert_eq!(pick(Some("gzip, br"), &[]), Identity);
    }

    #[test]
    fn brotli_wins_ties_and_q_values_decide() {
        assert_eq!(pick(Some("gzip, deflate, br"), &[Brotli, Gzip]), Brotli);
        assert_eq!(pick(Some("gzip, br;q=0.5"), &[Brotli, Gzip]), Gzip);
        assert_eq!(pick(Some("br;q=0, gzip"), &[Brotli, Gzip]), Gzip);
        assert_eq!(pick(Some("gzip;q=0.2, identity"), &[Gzip]), Identity);
        assert_eq!(pick(Some("x-gzip"), &[Gzip]), Gzip);
    }

    #[test]
    fn star_covers_unnamed_codings() {
        assert_eq!(pick(Some("*"), &[Gzip]), Gzip);
        assert_eq!(pick(Some("gzip;q=0, *"), &[Gzip]), Identity);
        assert_eq!(pick(Some("identity;q=0, *;q=0"), &[]), Identity);
    }

    #[test]
    fn identity_only_and_garbage_q() {
        assert_eq!(pick(Some("identity"), &[Brotli, Gzip]), Identity);
        assert_eq!(pick(Some("gzip;q=2"), &[Gzip]), Identity);
        assert_eq!(pick(Some("gzip;q=0.001"), &[Gzip]), Gzip);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("abc"), None);
    }
}
