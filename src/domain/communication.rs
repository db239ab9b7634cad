//! Communicating during an incident: status updates, who each is for and which phase it
//! speaks of.

use jiff::Timestamp;

use super::{FieldError, bounded_text};

closed_set! {
    /// Who a status update is written for.
    pub enum Audience for "audience" {
        /// Customers, on the status page and its subscriptions.
        Public = "public",
        /// Management and other internal people following the incident.
        Stakeholders = "stakeholders",
        /// The people working the incident.
        Responders = "responders",
    }
}

closed_set! {
    /// The phase of the incident an update speaks of (Statuspage's incident statuses, plus a
    /// plain update).
    pub enum Phase for "phase" {
        Investigating = "investigating",
        Identified = "identified",
        Monitoring = "monitoring",
        Resolved = "resolved",
        Update = "update",
    }
}

closed_set! {
    /// Where a status update stands: a draft is seen by the response only; a published one
    /// has gone out to its audiences.
    pub enum UpdateState for "state" {
        Draft = "draft",
        Published = "published",
    }
}

/// The longest update: a status update, not a document.
pub const MAX_UPDATE_CHARS: usize = 10_000;

/// A status update as the communications lead writes it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInput {
    /// Markdown.
    pub text: String,
    pub phase: Phase,
    /// In a fixed order, each once.
    pub audiences: Vec<Audience>,
    /// When readers are promised the next update.
    pub next_update_by: Option<Timestamp>,
}

/// The raw fields of an update, from the API or the composer.
#[derive(Debug, Clone, Default)]
pub struct RawUpdate<'a> {
    pub text: &'a str,
    pub phase: Option<&'a str>,
    pub audiences: &'a [String],
    pub next_update_by: Option<&'a str>,
}

impl UpdateInput {
    /// Checks an update for an incident (`private` or not) at `now`. A private incident has
    /// no public updates: nothing of it may reach the status page.
    pub fn parse(raw: RawUpdate<'_>, private: bool, now: Timestamp) -> Result<Self, FieldError> {
        let text = bounded_text("text", raw.text, 1, MAX_UPDATE_CHARS)?;
        let phase = match raw.phase.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => p.parse()?,
            None => Phase::Update,
        };
        let audiences = audiences(raw.audiences)?;
        if private && audiences.contains(&Audience::Public) {
            return Err(FieldError::new(
                "audiences",
                "a private incident's updates go to stakeholders and responders only",
            ));
        }
        let next_update_by = next_update_by(raw.next_update_by, now)?;
        Ok(Self {
            text,
            phase,
            audiences,
            next_update_by,
        })
    }
}

/// Audiences named by the API or a form: at least one, each once, in `Audience::ALL`'s order.
pub fn audiences(raw: &[String]) -> Result<Vec<Audience>, FieldError> {
    let mut named = Vec::new();
    for a in raw {
        let audience: Audience = a
            .parse()
            .map_err(|e: FieldError| FieldError::new("audiences", e.message))?;
        named.push(audience);
    }
    let ordered: Vec<Audience> = Audience::ALL
        .iter()
        .copied()
        .filter(|a| named.contains(a))
        .collect();
    if ordered.is_empty() {
        return Err(FieldError::new(
            "audiences",
            "name at least one of public, stakeholders, responders",
        ));
    }
    Ok(ordered)
}

/// When the next update is promised, an RFC 3339 time after `now`; empty counts as absent.
pub fn next_update_by(raw: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let at: Timestamp = raw.parse().map_err(|_| {
        FieldError::new(
            "next_update_by",
            "must be an RFC 3339 time, e.g. 2026-03-02T14:30:00Z",
        )
    })?;
    if at <= now {
        return Err(FieldError::new("next_update_by", "must be in the future"));
    }
    Ok(Some(at))
}

/// The audience whose eyes a draft's tone is checked with: the widest it goes to.
pub fn widest(audiences: &[Audience]) -> Audience {
    Audience::ALL
        .iter()
        .copied()
        .find(|a| audiences.contains(a))
        .unwrap_or(Audience::Responders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T14:00:00Z".parse().unwrap()
    }

    fn raw<'a>(audiences: &'a [String]) -> RawUpdate<'a> {
        RawUpdate {
            text: "Some customers see errors. We are on it. Next update by 14:30 UTC.",
            phase: Some("investigating"),
            audiences,
            next_update_by: Some("2026-03-02T14:30:00Z"),
        }
    }

    #[test]
    fn an_update_is_checked_field_by_field() {
        let named = vec![
            "stakeholders".to_string(),
            "public".to_string(),
            "public".to_string(),
        ];
        let ok = UpdateInput::parse(raw(&named), false, now()).unwrap();
        assert_eq!(ok.audiences, vec![Audience::Public, Audience::Stakeholders]);
        assert_eq!(ok.phase, Phase::Investigating);
        let field =
            |r: RawUpdate<'_>, private| UpdateInput::parse(r, private, now()).unwrap_err().field;
        assert_eq!(field(raw(&[]), false), "audiences");
        assert_eq!(field(raw(&["press".to_string()]), false), "audiences");
        assert_eq!(
            field(raw(&named), true),
            "audiences",
            "no public update of a private incident"
        );
        let mut past = raw(&named);
        past.next_update_by = Some("2026-03-02T13:00:00Z");
        assert_eq!(field(past, false), "next_update_by");
        let mut empty = raw(&named);
        empty.text = "  ";
        assert_eq!(field(empty, false), "text");
        let mut phase = raw(&named);
        phase.phase = Some("panicking");
        assert_eq!(field(phase, false), "phase");
        assert_eq!(
            widest(&[Audience::Responders, Audience::Stakeholders]),
            Audience::Stakeholders
        );
    }
}
