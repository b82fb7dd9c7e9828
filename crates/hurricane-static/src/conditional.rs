//! Conditional requests (RFC 9110 §13): `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since` and `If-Range`.

use std::time::SystemTime;

use http::{header, HeaderMap, HeaderValue};

/// The validators of the representation about to be sent.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The strong entity tag, quotes included.
    pub etag: &'a str,
    /// The modification time, whole seconds (as `Last-Modified` says it).
    pub modified: SystemTime,
}

/// What the preconditions of a GET or HEAD say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Send the representation (or the requested ranges of it).
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: the client made the request depend on a state the file is not in.
    Failed,
}

impl Validators<'_> {
    /// Evaluates the preconditions in RFC 9110 §13.2.2's order: `If-Match`, else
    /// `If-Unmodified-Since`; then `If-None-Match`, else `If-Modified-Since`.
    pub fn evaluate(&self, headers: &HeaderMap) -> Precondition {
        if let Some(if_match) = headers.get(header::IF_MATCH) {
            if !self.any_tag_matches(if_match, Comparison::Strong) {
                return Precondition::Failed;
            }
        } else if let Some(since) = date(headers.get(header::IF_UNMODIFIED_SINCE)) {
            if self.modified > since {
                return Precondition::Failed;
            }
        }
        if let Some(if_none_match) = headers.get(header::IF_NONE_MATCH) {
            if self.any_tag_matches(if_none_match, Comparison::Weak) {
                return Precondition::NotModified;
            }
        } else if let Some(since) = date(headers.get(header::IF_MODIFIED_SINCE)) {
            if self.modified <= since {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }

    /// Whether `If-Range` (if sent) lets the `Range` header apply: an entity tag must
    /// match strongly, a date must equal `Last-Modified` exactly (§13.1.5).
    pub fn range_applies(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::IF_RANGE) else {
            return true;
        };
        let Ok(text) = value.to_str() else {
            return false;
        };
        let text = text.trim();
        if text.starts_with('"') || text.starts_with("W/") {
            return parse_tags(text).is_some_and(|tags| {
                tags.iter()
                    .any(|tag| tag.matches(self.etag, Comparison::Strong))
            });
        }
        http_date(text).is_some_and(|date| date == self.modified)
    }

    fn any_tag_matches(&self, value: &HeaderValue, comparison: Comparison) -> bool {
        let Ok(text) = value.to_str() else {
            return false;
        };
        if text.trim() == "*" {
            return true;
        }
        parse_tags(text).is_some_and(|tags| tags.iter().any(|t| t.matches(self.etag, comparison)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and equal (`If-Match`, `If-Range`).
    Strong,
    /// Equal once `W/` is ignored (`If-None-Match`).
    Weak,
}

/// One entity tag from a request: `"abc"` or `W/"abc"`, quotes kept in `quoted`.
#[derive(Debug)]
struct RequestTag<'a> {
    weak: bool,
    quoted: &'a str,
}

impl RequestTag<'_> {
    fn matches(&self, ours: &str, comparison: Comparison) -> bool {
        self.quoted == ours && (comparison == Comparison::Weak || !self.weak)
    }
}

/// A comma-separated list of entity tags. Commas may occur inside the quotes, so the
/// list is scanned rather than split. `None` if it is malformed.
fn parse_tags(text: &str) -> Option<Vec<RequestTag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let body = after.strip_prefix('"')?;
        let close = body.find('"')?;
        tags.push(RequestTag {
            weak,
            quoted: &after[..close + 2],
        });
        rest = &body[close + 1..];
        if !(rest.is_empty() || rest.starts_with([' ', '\t', ','])) {
            return None;
        }
    }
}

/// An HTTP-date header; a missing or unreadable one counts as absent (§13.1.3, §13.1.4).
fn date(value: Option<&HeaderValue>) -> Option<SystemTime> {
    http_date(value?.to_str().ok()?)
}

/// An HTTP-date. A wrong day name (`Fri, 11 Apr 2100`, a Sunday) is tolerated, as
/// nginx and Python's `email.utils` tolerate it: the date itself is what counts.
fn http_date(text: &str) -> Option<SystemTime> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if let Ok(date) = httpdate::parse_http_date(text) {
        return Some(date);
    }
    let rest = text
        .get(3..)
        .filter(|_| DAYS.iter().any(|d| text.starts_with(d)))?;
    DAYS.iter()
        .find_map(|day| httpdate::parse_http_date(&format!("{day}{rest}")).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ETAG: &str = "\"5f-1a\"";

    fn modified() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn check(pairs: &[(header::HeaderName, &str)]) -> Precondition {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        Validators {
            etag: ETAG,
            modified: modified(),
        }
        .evaluate(&headers)
    }

    fn date_at(offset: i64) -> String {
        let when = if offset >= 0 {
            modified() + Duration::from_secs(offset as u64)
        } else {
            modified() - Duration::from_secs((-offset) as u64)
        };
        httpdate::fmt_http_date(when)
    }

    #[test]
    fn if_none_match_exact_list_star_and_weak() {
        use header::IF_NONE_MATCH as INM;
        assert_eq!(check(&[(INM, ETAG)]), Precondition::NotModified);
        assert_eq!(
            check(&[(INM, "\"x\", \"5f-1a\"")]),
            Precondition::NotModified
        );
        assert_eq!(check(&[(INM, "*")]), Precondition::NotModified);
        assert_eq!(check(&[(INM, "W/\"5f-1a\"")]), Precondition::NotModified);
        assert_eq!(check(&[(INM, "\"other\"")]), Precondition::Proceed);
        assert_eq!(check(&[(INM, "5f-1a")]), Precondition::Proceed);
    }

    #[test]
    fn if_none_match_overrules_if_modified_since() {
        let pairs = [
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, &*date_at(10)),
        ];
        assert_eq!(check(&pairs), Precondition::Proceed);
    }

    #[test]
    fn if_modified_since_exact_future_past_and_mangled() {
        use header::IF_MODIFIED_SINCE as IMS;
        assert_eq!(check(&[(IMS, &date_at(0))]), Precondition::NotModified);
        assert_eq!(check(&[(IMS, &date_at(3600))]), Precondition::NotModified);
        assert_eq!(check(&[(IMS, &date_at(-1))]), Precondition::Proceed);
        let mangled = format!("{} +0100", date_at(0));
        let wrong_day = format!("Fri{}", &date_at(7 * 86_400)[3..]);
        assert_eq!(check(&[(IMS, &mangled)]), Precondition::Proceed);
        assert_eq!(check(&[(IMS, &wrong_day)]), Precondition::NotModified);
    }

    #[test]
    fn if_match_is_strong_and_fails_with_412() {
        use header::IF_MATCH as IM;
        assert_eq!(check(&[(IM, ETAG)]), Precondition::Proceed);
        assert_eq!(check(&[(IM, "*")]), Precondition::Proceed);
        assert_eq!(check(&[(IM, "W/\"5f-1a\"")]), Precondition::Failed);
        assert_eq!(check(&[(IM, "\"other\"")]), Precondition::Failed);
    }

    #[test]
    fn if_unmodified_since() {
        use header::IF_UNMODIFIED_SINCE as IUS;
        assert_eq!(check(&[(IUS, &date_at(0))]), Precondition::Proceed);
        assert_eq!(check(&[(IUS, &date_at(-10))]), Precondition::Failed);
        // If-Match present: If-Unmodified-Since is not looked at.
        let pairs = [(header::IF_MATCH, ETAG), (IUS, &*date_at(-10))];
        assert_eq!(check(&pairs), Precondition::Proceed);
    }

    #[test]
    fn if_range_by_tag_or_exact_date() {
        let validators = Validators {
            etag: ETAG,
            modified: modified(),
        };
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_RANGE, HeaderValue::from_str(value).unwrap());
            validators.range_applies(&headers)
        };
        assert!(validators.range_applies(&HeaderMap::new()));
        assert!(with(ETAG));
        assert!(!with("W/\"5f-1a\""));
        assert!(!with("\"other\""));
        assert!(with(&date_at(0)));
        assert!(!with(&date_at(1)));
        assert!(!with("yesterday"));
    }

    #[test]
    fn tag_lists_with_commas_inside_quotes() {
        let tags = parse_tags("\"a,b\", W/\"c\"").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].quoted, "\"a,b\"");
        assert!(tags[1].weak);
        assert!(parse_tags("\"unterminated").is_none());
        assert!(parse_tags("\"a\"junk").is_none());
    }
}
