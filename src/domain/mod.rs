//! Types and rules of incident response. No HTTP, no SQL, no clock reads, no I/O:
//! every function that needs the time takes `now` as an argument.

/// A closed set of names: the enum (serialized as its names, and its OpenAPI schema an `enum`
/// of them), `ALL`, `as_str`, `Display`, and
/// a `FromStr` that ignores case and surrounding space and whose error names `$field` and
/// lists the choices. Parsed at the edge; SQL binds `as_str()`.
macro_rules! closed_set {
    ($(#[$meta:meta])* $vis:vis enum $name:ident for $field:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        // Written out rather than derived: the derive does not see a `rename` made here.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::FieldError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let names = [$($text),+].join(", ");
                        $crate::domain::FieldError::new($field, format!("must be one of {names}"))
                    })
            }
        }
    };
}

pub mod access;
pub mod action_items;
pub mod alert;
pub mod attachment;
pub mod blame;
pub mod catalog;
pub mod communication;
pub mod coordination;
pub mod drills;
pub mod escalation;
pub mod forge;
pub mod incident;
pub mod investigation;
pub mod maintenance;
pub mod meeting;
pub mod metrics;
pub mod playbooks;
pub mod rate;
pub mod reports;
pub mod review;
pub mod schedule;
pub mod status;
pub mod templates;
pub mod timeline;
pub mod tone;
pub mod wording;

use std::fmt;

/// A value from outside failed validation; names the field so the caller can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Why a requested change to an incident is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The change contradicts the incident's current state (e.g. it is already in that status).
    #[error("{0}")]
    Conflict(String),
    /// The change was made from a view of the incident older than its current version.
    #[error("the incident changed since version {seen} (now version {current})")]
    Stale { seen: i64, current: i64 },
}

/// Parses an RFC 3339 instant from outside, naming `field` when it is not one.
pub fn instant(field: &'static str, raw: &str) -> Result<jiff::Timestamp, FieldError> {
    raw.trim().parse().map_err(|_| {
        FieldError::new(
            field,
            "must be an RFC 3339 instant like 2026-03-03T18:00:00Z",
        )
    })
}

/// Checks free text from outside and trims it; shared by every free-text field. `raw` may be
/// at most `max` characters and hold no control character but tab, line feed and carriage
/// return; trimmed, at least `min`. `text_pattern` says the same to the API's clients.
pub fn bounded_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    if raw.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw.chars().any(is_forbidden_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    let text = raw.trim();
    if text.chars().count() < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    Ok(text.to_string())
}

/// Free text on one line (it heads a list item, a page or a timeline entry), not blank.
pub fn one_line(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    line_text(field, raw, 1, max)
}

/// `bounded_text` on one line.
pub fn line_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    if raw.contains(['\n', '\r']) {
        return Err(FieldError::new(field, "must be one line"));
    }
    bounded_text(field, raw, min, max)
}

/// Free text that may be absent; blank counts as absent.
pub fn optional_text(
    field: &'static str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    match raw {
        Some(raw) => Ok(Some(bounded_text(field, raw, 0, max)?).filter(|s| !s.is_empty())),
        None => Ok(None),
    }
}

/// A control character free text may not hold: all of them but the layout ones.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The characters `str::trim` removes that free text may hold (the layout controls and the
/// White_Space characters that are not controls), inside a regex character class.
pub const SPACE_CLASS: &str = r"\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The regular expression (ECMA-262, as JSON Schema's `pattern`) of what `bounded_text`
/// accepts: `blank` when its `min` is 0, and `one_line` for `line_text`.
/// Classes are spelled out rather than `\s`, which differs between regex dialects.
pub fn text_pattern(blank: bool, one_line: bool) -> String {
    // Unicode's control characters (Cc) but tab, and line feed and carriage return but on
    // one line; then the White_Space characters `str::trim` removes that are not controls.
    let forbidden = if one_line {
        r"\u0000-\u0008\u000A-\u001F\u007F-\u009F"
    } else {
        r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"
    };
    let space = SPACE_CLASS;
    if blank {
        format!("^[^{forbidden}]*$")
    } else {
        format!("^[^{forbidden}]*[^{forbidden}{space}][^{forbidden}]*$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_counts_characters_not_bytes() {
        assert_eq!(bounded_text("title", "  héllo ", 1, 8).unwrap(), "héllo");
        assert_eq!(
            bounded_text("title", "   ", 1, 5).unwrap_err().message,
            "must not be empty"
        );
        assert_eq!(
            bounded_text("title", "abcdef", 1, 5).unwrap_err().field,
            "title"
        );
        assert!(bounded_text("title", "a\u{7}b", 1, 5).is_err());
        // The length is of what was sent, so a client can check it before sending.
        assert!(bounded_text("title", "abc   ", 1, 5).is_err());
        assert!(bounded_text("title", "\u{b}abc", 1, 5).is_err());
    }

    /// The document's pattern and the parser agree on every character of the Basic
    /// Multilingual Plane and a few beyond, alone and beside a letter.
    #[test]
    fn text_pattern_says_what_bounded_text_accepts() {
        for (blank, one_line) in [(false, false), (true, false), (false, true), (true, true)] {
            let pattern = regex::Regex::new(&text_pattern(blank, one_line)).expect("a regex");
            let min = usize::from(!blank);
            let parse = |s: &str| {
                if one_line {
                    line_text("text", s, min, 10)
                } else {
                    bounded_text("text", s, min, 10)
                }
            };
            let chars = (0..=0xFFFF_u32)
                .chain([0x1F600, 0x10FFFF])
                .filter_map(char::from_u32);
            for c in chars {
                for s in [
                    c.to_string(),
                    format!("a{c}"),
                    format!("{c}a"),
                    format!("{c}{c}"),
                ] {
                    assert_eq!(
                        pattern.is_match(&s),
                        parse(&s).is_ok(),
                        "{s:?} (blank {blank}, one line {one_line})"
                    );
                }
            }
        }
    }
}
