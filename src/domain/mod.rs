//! Types and rules of incident response. No HTTP, no SQL, no clock reads, no I/O:
//! every function that needs the time takes `now` as an argument.

/// A closed set of names: the enum (serialized as its names), `ALL`, `as_str`, `Display`, and
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
pub mod alert;
pub mod attachment;
pub mod catalog;
pub mod communication;
pub mod coordination;
pub mod escalation;
pub mod forge;
pub mod incident;
pub mod investigation;
pub mod maintenance;
pub mod rate;
pub mod reports;
pub mod schedule;
pub mod status;
pub mod templates;
pub mod timeline;
pub mod tone;

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

/// Trims `raw` and checks its length in characters; shared by every free-text field.
pub fn bounded_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let text = raw.trim();
    let len = text.chars().count();
    if len < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_counts_characters_not_bytes() {
        assert_eq!(bounded_text("title", "  héllo ", 1, 5).unwrap(), "héllo");
        assert_eq!(
            bounded_text("title", "   ", 1, 5).unwrap_err().message,
            "must not be empty"
        );
        assert_eq!(
            bounded_text("title", "abcdef", 1, 5).unwrap_err().field,
            "title"
        );
        assert!(bounded_text("title", "a\u{7}b", 1, 5).is_err());
    }
}
