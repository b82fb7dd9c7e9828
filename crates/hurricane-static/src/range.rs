//! The `Range` header (RFC 9110 §14).

use std::ops::RangeInclusive;

/// At most this many ranges are served as `multipart/byteranges`; a longer set gets the
/// whole file, as it would take more work (and bytes) than the file itself.
pub const MAX_RANGES: usize = 32;

/// What a `Range` header asks of a file of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No byte ranges to honour: send the whole file (200). An unknown range unit, or a
    /// set of ranges larger than the file.
    Whole,
    /// One or more satisfiable ranges, in the order asked, ends clipped to the file (206).
    Ranges(Vec<RangeInclusive<u64>>),
    /// Nothing satisfiable, or byte ranges that do not parse (416), as nginx answers.
    Unsatisfiable,
}

impl RangeRequest {
    /// Reads `header` for a file of `size` bytes.
    ///
    /// Members that start at or past the end are dropped (nginx's behaviour); several
    /// ranges that together cover more bytes than the file, or more than
    /// [`MAX_RANGES`] of them, are answered with the whole file (RFC 9110 §14.2 lets a
    /// server ignore such sets, which are how range amplification attacks look).
    pub fn parse(header: &str, size: u64) -> Self {
        let Some((unit, set)) = header.split_once('=') else {
            return Self::Unsatisfiable;
        };
        if !unit.trim().eq_ignore_ascii_case("bytes") {
            return Self::Whole;
        }
        let mut ranges = Vec::new();
        for member in set.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            match parse_member(member, size) {
                Member::Invalid => return Self::Unsatisfiable,
                Member::Beyond => {}
                Member::Range(range) => ranges.push(range),
            }
        }
        let covered: u64 = ranges.iter().map(|r| r.end() - r.start() + 1).sum();
        match ranges.len() {
            0 => Self::Unsatisfiable,
            1 => Self::Ranges(ranges),
            n if n > MAX_RANGES || covered > size => Self::Whole,
            _ => Self::Ranges(ranges),
        }
    }
}

enum Member {
    Range(RangeInclusive<u64>),
    /// Well-formed but not satisfiable by this file.
    Beyond,
    Invalid,
}

fn parse_member(member: &str, size: u64) -> Member {
    let Some((first, last)) = member.split_once('-') else {
        return Member::Invalid;
    };
    if first.is_empty() {
        // A suffix: the last n bytes.
        return match digits(last) {
            None => Member::Invalid,
            Some(0) => Member::Beyond,
            Some(_) if size == 0 => Member::Beyond,
            Some(n) => Member::Range(size.saturating_sub(n)..=size - 1),
        };
    }
    let Some(start) = digits(first) else {
        return Member::Invalid;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match digits(last) {
            Some(end) if end >= start => end,
            _ => return Member::Invalid,
        }
    };
    if start >= size {
        Member::Beyond
    } else {
        Member::Range(start..=end.min(size - 1))
    }
}

/// A run of ASCII digits; a number too large for u64 counts as not a number.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    fn ranges(list: &[(u64, u64)]) -> RangeRequest {
        Ranges(list.iter().map(|&(a, b)| a..=b).collect())
    }

    #[test]
    fn single_suffix_open_and_clipped() {
        assert_eq!(RangeRequest::parse("bytes=0-9", 100), ranges(&[(0, 9)]));
        assert_eq!(RangeRequest::parse("bytes=90-", 100), ranges(&[(90, 99)]));
        assert_eq!(RangeRequest::parse("bytes=-10", 100), ranges(&[(90, 99)]));
        assert_eq!(RangeRequest::parse("bytes=-1000", 100), ranges(&[(0, 99)]));
        assert_eq!(
            RangeRequest::parse("bytes=95-1000", 100),
            ranges(&[(95, 99)])
        );
        assert_eq!(RangeRequest::parse("bytes=0-0", 100), ranges(&[(0, 0)]));
        assert_eq!(RangeRequest::parse("BYTES = 1-2", 100), ranges(&[(1, 2)]));
    }

    #[test]
    fn unsatisfiable_and_invalid_are_416() {
        for header in [
            "bytes=100-",
            "bytes=100000-",
            "bytes=-0",
            "bytes=alpha",
            "bytes=10-alpha",
            "bytes=10",
            "bytes=10-5",
            "bytes=10-11 12-",
            "bytes",
            "bytes=",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(RangeRequest::parse(header, 100), Unsatisfiable, "{header}");
        }
        assert_eq!(RangeRequest::parse("bytes=0-", 0), Unsatisfiable);
        assert_eq!(RangeRequest::parse("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn unknown_units_are_ignored() {
        assert_eq!(RangeRequest::parse("items=0-5", 100), Whole);
    }

    #[test]
    fn multiple_ranges_drop_unsatisfiable_members() {
        assert_eq!(
            RangeRequest::parse("bytes=0-9, 20-29", 100),
            ranges(&[(0, 9), (20, 29)])
        );
        assert_eq!(
            RangeRequest::parse("bytes=0-9,200-300,20-29", 100),
            ranges(&[(0, 9), (20, 29)])
        );
        assert_eq!(
            RangeRequest::parse("bytes=0-9,200-", 100),
            ranges(&[(0, 9)])
        );
    }

    #[test]
    fn sets_larger_than_the_file_or_too_many_get_the_whole_file() {
        assert_eq!(RangeRequest::parse("bytes=0-10001, 0-0", 10000), Whole);
        let many = (0..=MAX_RANGES)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(RangeRequest::parse(&format!("bytes={many}"), 1000), Whole);
    }
}
