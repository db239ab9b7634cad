//! OpenAPI schemas for the names the API takes as plain strings (a severity, a phase, a
//! role…): each is an `enum` of the choices its parser accepts, drawn from the same list, so
//! the document cannot drift from the code. Used as `#[schema(value_type = …)]` on fields and
//! as the type of path and query parameters.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};

use crate::domain::{
    access, communication, coordination, escalation, incident, investigation, maintenance, status,
};

fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(names.into_iter().map(String::from)))
}

macro_rules! names {
    ($($(#[$doc:meta])* $schema:ident = $names:expr;)+) => {$(
        $(#[$doc])*
        pub struct $schema;

        impl utoipa::PartialSchema for $schema {
            fn schema() -> RefOr<Schema> {
                one_of($names).into()
            }
        }

        impl utoipa::ToSchema for $schema {}
    )+};
}

names! {
    /// An incident's severity, SEV1 the worst.
    SeverityName = incident::Severity::ALL.iter().map(|s| s.as_str());
    /// An incident's status.
    IncidentStatusName = incident::Status::ALL.iter().map(|s| s.as_str());
    /// A list filter on status: empty means any.
    IncidentStatusFilter = incident::Status::ALL.iter().map(|s| s.as_str()).chain([""]);
    /// A list filter on severity: empty means any.
    SeverityFilter = incident::Severity::ALL.iter().map(|s| s.as_str()).chain([""]);
    /// A response role on an incident.
    RoleName = incident::RoleKind::ALL.iter().map(|r| r.slug());
    /// A user's role in aplomb.
    UserRoleName = access::UserRole::ALL.iter().map(|r| r.as_str());
    /// Who a status update is for.
    AudienceName = communication::Audience::ALL.iter().map(|a| a.as_str());
    /// Where a status update says the response is.
    PhaseName = communication::Phase::ALL.iter().map(|p| p.as_str());
    /// A task's status.
    TaskStatusName = coordination::TaskStatus::ALL.iter().map(|s| s.as_str());
    /// Where a change made during the response stands.
    ChangeStateName = coordination::ChangeState::ALL.iter().map(|s| s.as_str());
    /// What a piece of evidence is.
    EvidenceKindName = investigation::EvidenceKind::ALL.iter().map(|k| k.as_str());
    /// Where a hypothesis stands.
    HypothesisStateName = investigation::HypothesisState::ALL.iter().map(|s| s.as_str());
    /// What a piece of evidence says of a hypothesis.
    StanceName = investigation::Stance::ALL.iter().map(|s| s.as_str());
    /// A maintenance window's status.
    MaintenanceStatusName = maintenance::MaintenanceStatus::ALL.iter().map(|s| s.as_str());
    /// A status-page component's status.
    ComponentStatusName = status::ComponentStatus::ALL.iter().map(|s| s.as_str());
    /// How a status-page subscriber hears of updates.
    SubscriberKindName = status::SubscriberKind::ALL.iter().map(|k| k.as_str());
    /// Whom an escalation level pages: a responder, whoever a schedule has on call, or a team.
    TargetKindName = escalation::Target::KINDS;
    /// Whether a status update is a draft or published.
    UpdateStateName = communication::UpdateState::ALL.iter().map(|s| s.as_str());
    /// A contact method's channel.
    ContactKindName = super::oncall::CONTACT_KINDS;
    /// What an integration receives.
    IntegrationKindName = super::INTEGRATION_KINDS;
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
