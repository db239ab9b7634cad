//! OpenAPI schemas for what the API takes as plain strings, drawn from the parsers so the
//! document cannot drift from the code: the names (a severity, a phase, a role…) as an `enum`
//! of the choices their parser accepts, and free text with the length and characters
//! `domain::bounded_text` accepts. Used as `#[schema(value_type = …)]` on fields and as the
//! type of path and query parameters.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};

use crate::domain::{
    self, access, action_items, alert, communication, coordination, drills, escalation, incident,
    investigation, maintenance, meeting, review, status,
};

fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(names.into_iter().map(String::from)))
}

/// Free text of `min` (0: may be blank, 1: not blank) to `max` characters.
fn text(min: usize, max: usize) -> ObjectBuilder {
    free_text(min, max, false)
}

/// Free text on one line.
fn line(min: usize, max: usize) -> ObjectBuilder {
    free_text(min, max, true)
}

fn free_text(min: usize, max: usize, one_line: bool) -> ObjectBuilder {
    debug_assert!(
        min <= 1,
        "text_pattern knows blank or not, not longer minimums"
    );
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(domain::text_pattern(min == 0, one_line)))
}

macro_rules! schemas {
    ($($(#[$doc:meta])* $schema:ident = $builder:expr;)+) => {$(
        $(#[$doc])*
        pub struct $schema;

        impl utoipa::PartialSchema for $schema {
            fn schema() -> RefOr<Schema> {
                $builder.into()
            }
        }

        impl utoipa::ToSchema for $schema {}
    )+};
}

schemas! {
    /// An incident's severity, SEV1 the worst.
    SeverityName = one_of(incident::Severity::ALL.iter().map(|s| s.as_str()));
    /// A status a person may set (`reviewed` comes from publishing the review).
    IncidentStatusName = one_of(incident::Status::SETTABLE.iter().map(|s| s.as_str()));
    /// A list filter on status: empty means any.
    IncidentStatusFilter = one_of(incident::Status::ALL.iter().map(|s| s.as_str()).chain([""]));
    /// A list filter on severity: empty means any.
    SeverityFilter = one_of(incident::Severity::ALL.iter().map(|s| s.as_str()).chain([""]));
    /// A list filter on an alert's status: empty means any.
    AlertStatusFilter = one_of(alert::AlertStatus::ALL.iter().map(|s| s.as_str()).chain([""]));
    /// A response role on an incident.
    RoleName = one_of(incident::RoleKind::ALL.iter().map(|r| r.slug()));
    /// A user's role in aplomb.
    UserRoleName = one_of(access::UserRole::ALL.iter().map(|r| r.as_str()));
    /// Who a status update is for.
    AudienceName = <communication::Audience as utoipa::PartialSchema>::schema();
    /// Where a status update says the response is.
    PhaseName = <communication::Phase as utoipa::PartialSchema>::schema();
    /// A task's status.
    TaskStatusName = <coordination::TaskStatus as utoipa::PartialSchema>::schema();
    /// Where an action item stands.
    ActionStateName = <action_items::ActionState as utoipa::PartialSchema>::schema();
    /// A list filter on an action item's state: empty means any.
    ActionStateFilter = one_of(action_items::ActionState::ALL.iter().map(|s| s.as_str()).chain([""]));
    /// How much an action item matters.
    PriorityName = <action_items::Priority as utoipa::PartialSchema>::schema();
    /// The review section an action item answers to.
    PracticeName = <review::Practice as utoipa::PartialSchema>::schema();
    /// Where a change made during the response stands.
    ChangeStateName = <coordination::ChangeState as utoipa::PartialSchema>::schema();
    /// What a piece of evidence is.
    EvidenceKindName = <investigation::EvidenceKind as utoipa::PartialSchema>::schema();
    /// Where a hypothesis stands.
    HypothesisStateName = <investigation::HypothesisState as utoipa::PartialSchema>::schema();
    /// What a piece of evidence says of a hypothesis.
    StanceName = <investigation::Stance as utoipa::PartialSchema>::schema();
    /// A maintenance window's status.
    MaintenanceStatusName = <maintenance::MaintenanceStatus as utoipa::PartialSchema>::schema();
    /// A status-page component's status.
    ComponentStatusName = <status::ComponentStatus as utoipa::PartialSchema>::schema();
    /// How a status-page subscriber hears of updates.
    SubscriberKindName = <status::SubscriberKind as utoipa::PartialSchema>::schema();
    /// Whom an escalation level pages: a responder, whoever a schedule has on call, or a team.
    TargetKindName = one_of(escalation::Target::KINDS);
    /// Whether a status update is a draft or published.
    UpdateStateName = <communication::UpdateState as utoipa::PartialSchema>::schema();
    /// A contact method's channel.
    ContactKindName = one_of(super::oncall::CONTACT_KINDS);
    /// What an integration receives.
    IntegrationKindName = one_of(super::INTEGRATION_KINDS);
    /// A file's bytes as they are (a body or an answer, not JSON).
    Binary = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(SchemaFormat::Custom("binary".into())));
    /// A login name: lowercase letters, digits, `.`, `_` and `-`.
    Username = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(access::username_pattern()));
    /// A name: of a service, team, schedule, policy, component, token…
    Name = text(1, 100);
    /// A short label that may be blank (a team's domain, a service's owner).
    BlankName = text(0, 100);
    /// A name or title of up to 200 characters.
    Title = text(1, 200);
    /// Text of up to 200 characters that may be blank (blank means none).
    BlankTitle = text(0, 200);
    /// An incident's title: one line.
    IncidentTitle = line(1, incident::Title::MAX_CHARS);
    /// A task's title, or the system a change touched: one line.
    TaskTitle = line(1, coordination::MAX_TASK_TITLE);
    /// A skill (a domain of expertise such as network or database): one line.
    Skill = line(1, coordination::MAX_SKILL);
    /// A task's skill; blank means none.
    BlankSkill = line(0, coordination::MAX_SKILL);
    /// A claim or a one-line summary (a hypothesis, a piece of evidence).
    Statement = line(1, investigation::MAX_STATEMENT);
    /// Why, in a sentence or two.
    Reason = text(1, 500);
    /// A note, a description of up to 2,000 characters.
    Note = text(1, 2000);
    /// Optional text of up to 2,000 characters; blank means none.
    BlankNote = text(0, 2000);
    /// A description that may be blank, up to 500 characters.
    ShortDescription = text(0, 500);
    /// A description that may be blank, up to 2,000 characters.
    Description = text(0, 2000);
    /// A description that may be blank, up to 5,000 characters.
    LongDescription = text(0, 5000);
    /// Text of up to 4,000 characters: a template, a report, a test and its result.
    Text4000 = text(1, 4000);
    /// A status update's text (Markdown).
    UpdateText = text(1, communication::MAX_UPDATE_CHARS);
    /// A note posted to the timeline (Markdown).
    NoteText = text(1, incident::NoteText::MAX_CHARS);
    /// An incident's summary; may be blank.
    SummaryText = text(0, incident::Summary::MAX_CHARS);
    /// A post-incident review's text (Markdown).
    ReviewText = text(1, review::MAX_REVIEW_CHARS);
    /// A drill's scenario (TOML).
    ScenarioText = text(1, drills::MAX_SCENARIO_CHARS);
    /// A comment on a review.
    CommentText = text(1, review::MAX_COMMENT_CHARS);
    /// Where a meeting is: a room or a video-call link; may be blank.
    Location = text(0, meeting::MAX_LOCATION);
    /// An excerpt of a log or an output; blank means none.
    Excerpt = text(0, investigation::MAX_EXCERPT);
}

/// A list naming at least one audience (a name repeated counts once).
pub struct AudienceNames;

impl utoipa::PartialSchema for AudienceNames {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(one_of(
                communication::Audience::ALL.iter().map(|a| a.as_str()),
            ))
            .min_items(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for AudienceNames {}
