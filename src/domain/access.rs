//! Who may see and do what. Private incidents are visible only to their participants and admins.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{FieldError, bounded_text};

/// A user's role in aplomb itself (not a response role on an incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    Admin,
    Responder,
    Viewer,
}

impl UserRole {
    pub const ALL: [UserRole; 3] = [Self::Admin, Self::Responder, Self::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Responder => "responder",
            Self::Viewer => "viewer",
        }
    }
}

impl fmt::Display for UserRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserRole {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "admin" => Ok(Self::Admin),
            "responder" => Ok(Self::Responder),
            "viewer" => Ok(Self::Viewer),
            _ => Err(FieldError::new(
                "role",
                "must be one of admin, responder, viewer",
            )),
        }
    }
}

/// The signed-in person making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: UserRole,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    /// Viewers read; responders and admins act.
    pub fn can_act(&self) -> bool {
        matches!(self.role, UserRole::Admin | UserRole::Responder)
    }

    /// The visibility rule for one incident.
    pub fn can_view(&self, private: bool, is_participant: bool) -> bool {
        !private || self.is_admin() || is_participant
    }
}

/// A login name: lowercase letters, digits, `.`, `_` and `-`.
pub fn parse_username(raw: &str) -> Result<String, FieldError> {
    let name = bounded_text("username", raw, 1, 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(FieldError::new(
            "username",
            "must be lowercase letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(name)
}

/// What `parse_username` accepts, as a regular expression (with a `maxLength` of 64).
pub fn username_pattern() -> String {
    let space = super::SPACE_CLASS;
    format!("^[{space}]*[a-z0-9._-]+[{space}]*$")
}

/// Passwords are never trimmed; only their length is checked.
pub fn check_password(raw: &str) -> Result<(), FieldError> {
    let len = raw.chars().count();
    if !(8..=256).contains(&len) {
        return Err(FieldError::new("password", "must be 8 to 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_pattern_says_what_parse_username_accepts() {
        let pattern = regex::Regex::new(&username_pattern()).expect("a regex");
        let chars = (0..=0x3000_u32).filter_map(char::from_u32);
        for c in chars {
            for s in [
                c.to_string(),
                format!("bob{c}"),
                format!("{c}bob"),
                format!("b{c}b"),
            ] {
                assert_eq!(pattern.is_match(&s), parse_username(&s).is_ok(), "{s:?}");
            }
        }
    }

    fn actor(role: UserRole) -> Actor {
        Actor {
            id: 7,
            username: "dana".into(),
            display_name: "Dana".into(),
            role,
        }
    }

    #[test]
    fn private_incidents_are_for_participants_and_admins_only() {
        let responder = actor(UserRole::Responder);
        assert!(responder.can_view(false, false));
        assert!(!responder.can_view(true, false));
        assert!(responder.can_view(true, true));
        assert!(actor(UserRole::Admin).can_view(true, false));
        assert!(!actor(UserRole::Viewer).can_view(true, false));
    }

    #[test]
    fn viewers_read_but_do_not_act() {
        assert!(!actor(UserRole::Viewer).can_act());
        assert!(actor(UserRole::Responder).can_act());
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert_eq!(parse_username(" alice ").unwrap(), "alice");
        assert_eq!(parse_username("Alice").unwrap_err().field, "username");
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert_eq!("owner".parse::<UserRole>().unwrap_err().field, "role");
    }
}
