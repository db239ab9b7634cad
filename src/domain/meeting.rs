//! The review meeting: when the team meets to go through a review, who is asked, and the
//! iCalendar invitation (RFC 5545, `METHOD:REQUEST` as RFC 5546 has it) each attendee gets by
//! email. Moving the meeting sends the invitation again with a higher `SEQUENCE`, so calendars
//! update the event they hold instead of adding a second.

use jiff::{SignedDuration, Timestamp};

use super::{FieldError, instant, optional_text};

/// The shortest and longest review meeting, in minutes.
pub const MIN_MINUTES: i64 = 15;
pub const MAX_MINUTES: i64 = 480;
/// The most people one meeting asks.
pub const MAX_ATTENDEES: usize = 50;
/// The longest location (a room, a video-call link).
pub const MAX_LOCATION: usize = 300;

closed_set! {
    /// Where one invitation stands: owed, sent, given up on, or cancelled because the meeting
    /// moved before it went.
    pub enum InviteState for "state" {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

/// A meeting as asked for, checked: attendees are usernames the caller resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingInput {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub location: Option<String>,
    pub attendees: Vec<String>,
}

/// The raw fields of a meeting, from the API or a form.
pub struct RawMeeting<'a> {
    pub starts_at: &'a str,
    pub duration_minutes: i64,
    pub location: Option<&'a str>,
    pub attendees: &'a [String],
}

impl MeetingInput {
    /// A meeting starts in the future; a username named twice counts once.
    pub fn parse(raw: RawMeeting, now: Timestamp) -> Result<Self, FieldError> {
        let starts_at = instant("starts_at", raw.starts_at)?;
        if starts_at <= now {
            return Err(FieldError::new("starts_at", "must be in the future"));
        }
        if !(MIN_MINUTES..=MAX_MINUTES).contains(&raw.duration_minutes) {
            return Err(FieldError::new(
                "duration_minutes",
                format!("must be between {MIN_MINUTES} and {MAX_MINUTES}"),
            ));
        }
        let location = optional_text("location", raw.location, MAX_LOCATION)?;
        if location
            .as_deref()
            .is_some_and(|l| l.contains(['\n', '\r']))
        {
            return Err(FieldError::new("location", "must be one line"));
        }
        let mut attendees: Vec<String> = Vec::new();
        for name in raw
            .attendees
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
        {
            if !attendees.iter().any(|a| a == name) {
                attendees.push(name.to_string());
            }
        }
        if attendees.is_empty() {
            return Err(FieldError::new(
                "attendees",
                "must name at least one person",
            ));
        }
        if attendees.len() > MAX_ATTENDEES {
            return Err(FieldError::new(
                "attendees",
                format!("may name at most {MAX_ATTENDEES} people"),
            ));
        }
        let ends_at = starts_at
            .checked_add(SignedDuration::from_mins(raw.duration_minutes))
            .map_err(|_| FieldError::new("starts_at", "is too far ahead"))?;
        Ok(Self {
            ends_at,
            starts_at,
            location,
            attendees,
        })
    }
}

/// What one invitation says.
pub struct Invitation<'a> {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub location: Option<&'a str>,
    /// Stable for the meeting, whatever its changes: `review-42@host`.
    pub uid: &'a str,
    /// 0 for the first invitation, one more for each change.
    pub sequence: i64,
    pub summary: &'a str,
    pub description: &'a str,
    /// The review's page.
    pub url: &'a str,
    /// (name, email) of who sends it.
    pub organizer: (&'a str, &'a str),
    /// (name, email) of each attendee.
    pub attendees: &'a [(String, String)],
}

/// The iCalendar object of an invitation (CRLF line ends, long lines folded at 75 octets).
pub fn ics(invitation: &Invitation, now: Timestamp) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//aplomb//review meeting//EN".into(),
        "METHOD:REQUEST".into(),
        "CALSCALE:GREGORIAN".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", text(invitation.uid)),
        format!("SEQUENCE:{}", invitation.sequence),
        format!("DTSTAMP:{}", utc(now)),
        format!("DTSTART:{}", utc(invitation.starts_at)),
        format!("DTEND:{}", utc(invitation.ends_at)),
        format!("SUMMARY:{}", text(invitation.summary)),
        format!("DESCRIPTION:{}", text(invitation.description)),
        format!("URL:{}", invitation.url),
    ];
    if let Some(location) = invitation.location {
        lines.push(format!("LOCATION:{}", text(location)));
    }
    let (name, email) = invitation.organizer;
    lines.push(format!("ORGANIZER;CN={}:mailto:{email}", param(name)));
    for (name, email) in invitation.attendees {
        lines.push(format!(
            "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{email}",
            param(name)
        ));
    }
    lines.extend([
        "STATUS:CONFIRMED".into(),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ]);
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
    out
}

/// `20261208T143000Z`.
fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslash, semicolon, comma and line ends escaped (RFC 5545 §3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted, with what a quoted value cannot hold left out (§3.2).
fn param(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect();
    format!("\"{clean}\"")
}

/// Appends `line` folded at 75 octets, never inside a character, each part ending CRLF and
/// each continuation starting with a space (§3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let size = c.len_utf8();
        if width + size > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += size;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn raw<'a>(starts_at: &'a str, minutes: i64, attendees: &'a [String]) -> RawMeeting<'a> {
        RawMeeting {
            starts_at,
            duration_minutes: minutes,
            location: Some("Room 4"),
            attendees,
        }
    }

    #[test]
    fn a_meeting_is_in_the_future_of_a_sane_length_with_someone_asked() {
        let now = t("2026-12-08T10:00:00Z");
        let people = vec!["bob".to_string(), " bob ".to_string(), "carol".to_string()];
        let m = MeetingInput::parse(raw("2026-12-09T14:00:00Z", 45, &people), now).unwrap();
        assert_eq!(m.ends_at, t("2026-12-09T14:45:00Z"));
        assert_eq!(m.attendees, ["bob", "carol"]);
        let cases = [
            (raw("2026-12-08T09:00:00Z", 45, &people), "starts_at"),
            (raw("tomorrow", 45, &people), "starts_at"),
            (raw("2026-12-09T14:00:00Z", 5, &people), "duration_minutes"),
            (
                raw("2026-12-09T14:00:00Z", 600, &people),
                "duration_minutes",
            ),
            (raw("2026-12-09T14:00:00Z", 45, &[]), "attendees"),
            (raw("9999-12-31T23:59:00Z", 45, &people), "starts_at"),
        ];
        for (input, field) in cases {
            assert_eq!(MeetingInput::parse(input, now).unwrap_err().field, field);
        }
    }

    #[test]
    fn the_invitation_is_an_rfc_5545_request() {
        let now = t("2026-12-08T10:00:00Z");
        let people = vec!["bob".to_string()];
        let m = MeetingInput::parse(raw("2026-12-09T14:00:00Z", 60, &people), now).unwrap();
        let attendees = vec![("Bob Okafor".to_string(), "bob@example.org".to_string())];
        let long = "Review of incident #42, checkout, card payments; the team goes through the timeline, the gaps and the action items together";
        let ics = ics(
            &Invitation {
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                location: m.location.as_deref(),
                uid: "review-42@aplomb.example",
                sequence: 1,
                summary: long,
                description: "Line one\nline two",
                url: "https://aplomb.example/incidents/42/review",
                organizer: ("aplomb", "aplomb@example.org"),
                attendees: &attendees,
            },
            now,
        );
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{ics}"
        );
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"), "{ics}");
        for line in [
            "METHOD:REQUEST",
            "UID:review-42@aplomb.example",
            "SEQUENCE:1",
            "DTSTART:20261209T140000Z",
            "DTEND:20261209T150000Z",
            "DTSTAMP:20261208T100000Z",
            "LOCATION:Room 4",
            "DESCRIPTION:Line one\\nline two",
        ] {
            assert!(ics.contains(&format!("\r\n{line}\r\n")), "{line} in {ics}");
        }
        // Folded: no line longer than 75 octets, and unfolding gives the summary back escaped.
        assert!(ics.split("\r\n").all(|l| l.len() <= 75), "{ics}");
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains(&format!(
                "SUMMARY:{}",
                long.replace(',', "\\,").replace(';', "\\;")
            )),
            "{unfolded}"
        );
        assert!(unfolded.contains(
            "\r\nATTENDEE;CN=\"Bob Okafor\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org\r\n"
        ));
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        fold(&format!("SUMMARY:{}", "é".repeat(60)), &mut out);
        for line in out.split("\r\n") {
            assert!(line.len() <= 75);
        }
        assert_eq!(
            out.replace("\r\n ", "").trim_end(),
            format!("SUMMARY:{}", "é".repeat(60))
        );
    }
}
