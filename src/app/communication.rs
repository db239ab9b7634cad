//! Communicating during an incident: for now the tone check, which anyone signed in may run
//! on a draft before it goes out (it reads nothing stored, so it needs no access rule).

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppResult};
use crate::domain::bounded_text;
use crate::domain::communication::{Audience, Phase};
use crate::domain::tone::{self, Finding};

/// The longest text the tone check reads: a status update, not a document.
pub const MAX_UPDATE_CHARS: usize = 10_000;

/// A draft to check.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneCheckFields {
    /// The update's text (Markdown), up to 10,000 characters.
    #[schema(
        example = "Some customers cannot pay by card. We are rolling back a change. Next update by 14:30 UTC."
    )]
    pub text: String,
    /// `public` (the default), `stakeholders` or `responders`: internals are flagged only in a
    /// public update, and missing essentials only outside the response.
    #[schema(example = "public")]
    pub audience: Option<String>,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `update`: a resolved
    /// incident's update needs no next-update time.
    pub phase: Option<String>,
}

impl Aplomb {
    /// What the tone check finds in a draft; it advises and never blocks.
    pub fn tone_check(&self, fields: &ToneCheckFields) -> AppResult<Vec<Finding>> {
        // Checked, but not trimmed: spans count from the first character as sent.
        bounded_text("text", &fields.text, 1, MAX_UPDATE_CHARS)?;
        let audience = match fields.audience.as_deref() {
            Some(a) => a.parse()?,
            None => Audience::Public,
        };
        let phase = fields
            .phase
            .as_deref()
            .map(str::parse::<Phase>)
            .transpose()?;
        Ok(tone::check(
            &fields.text,
            audience,
            phase,
            &self.settings.tone,
        ))
    }
}
