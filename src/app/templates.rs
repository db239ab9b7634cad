//! Status update templates: the team writes its own per phase and audience (and optionally
//! per incident type); an incident's composer starts from the one that applies, filled.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Aplomb, AppError, AppResult, require_admin};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::communication::{Audience, Phase};
use crate::domain::incident::Incident;
use crate::domain::templates::{self, Template, TemplateValues};
use crate::store::TemplateRecord;

/// A template as the team writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    /// Markdown, up to 4,000 characters; `{title}`, `{severity}`, `{services}` and
    /// `{next_update}` are filled from the incident.
    #[schema(
        example = "Some users of {services} cannot sign in. We are investigating. Next update by {next_update}."
    )]
    #[schema(value_type = crate::app::schema::Text4000)]
    pub text: String,
    /// For incidents of this type only; absent for any type.
    #[schema(example = "security")]
    pub incident_type: Option<String>,
}

/// One template: the team's, or aplomb's own where the team wrote none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateView {
    pub phase: Phase,
    pub audience: Audience,
    pub incident_type: Option<String>,
    pub text: String,
    /// Whether the team wrote it (else it is aplomb's own).
    pub custom: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<Timestamp>,
}

impl TemplateView {
    fn written(r: TemplateRecord) -> Self {
        Self {
            phase: r.template.phase,
            audience: r.template.audience,
            incident_type: r.template.incident_type,
            text: r.template.text,
            custom: true,
            updated_by: r.updated_by,
            updated_at: Some(r.updated_at),
        }
    }
}

/// A template filled for one incident: the composer's starting text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledTemplate {
    pub phase: Phase,
    pub audience: Audience,
    pub text: String,
    /// Whether it came from the team's template (else aplomb's own).
    pub custom: bool,
}

impl Aplomb {
    /// Every phase and audience's template for any incident type (the team's or aplomb's),
    /// then the team's for single types.
    pub async fn update_templates(&self, _actor: &Actor) -> AppResult<Vec<TemplateView>> {
        let written = self.store.update_templates().await?;
        let mut views = Vec::new();
        for audience in Audience::ALL {
            for phase in Phase::ALL {
                let mine = written.iter().find(|r| {
                    let t = &r.template;
                    t.phase == *phase && t.audience == *audience && t.incident_type.is_none()
                });
                views.push(match mine {
                    Some(r) => TemplateView::written(r.clone()),
                    None => TemplateView {
                        phase: *phase,
                        audience: *audience,
                        incident_type: None,
                        text: templates::default_template(*phase, *audience).to_string(),
                        custom: false,
                        updated_by: None,
                        updated_at: None,
                    },
                });
            }
        }
        views.extend(
            written
                .into_iter()
                .filter(|r| r.template.incident_type.is_some())
                .map(TemplateView::written),
        );
        Ok(views)
    }

    /// Writes the team's template for an audience and phase (admins).
    pub async fn save_update_template(
        &self,
        actor: &Actor,
        audience: &str,
        phase: &str,
        fields: &TemplateFields,
    ) -> AppResult<TemplateView> {
        require_admin(actor)?;
        let template = Template {
            phase: phase.parse()?,
            audience: audience.parse()?,
            incident_type: self.template_type(fields.incident_type.as_deref())?,
            text: templates::check_template(&fields.text)?,
        };
        self.store
            .save_update_template(&template, actor.id, self.now())
            .await?;
        let views = self.update_templates(actor).await?;
        views
            .into_iter()
            .find(|v| {
                v.custom
                    && v.phase == template.phase
                    && v.audience == template.audience
                    && v.incident_type == template.incident_type
            })
            .ok_or(AppError::NotFound("template"))
    }

    /// Removes the team's template, so the one for any type, or aplomb's own, applies again.
    pub async fn reset_update_template(
        &self,
        actor: &Actor,
        audience: &str,
        phase: &str,
        incident_type: Option<&str>,
    ) -> AppResult<()> {
        require_admin(actor)?;
        let (phase, audience): (Phase, Audience) = (phase.parse()?, audience.parse()?);
        let incident_type = self.template_type(incident_type)?;
        if self
            .store
            .remove_update_template(phase, audience, incident_type.as_deref())
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound("team template"))
        }
    }

    /// The template an incident's update for `audience` in `phase` starts from, filled.
    pub async fn incident_template(
        &self,
        actor: &Actor,
        id: i64,
        audience: &str,
        phase: &str,
    ) -> AppResult<FilledTemplate> {
        let (audience, phase): (Audience, Phase) = (audience.parse()?, phase.parse()?);
        let view = self.incident(actor, id).await?;
        if view.incident.private && audience == Audience::Public {
            return Err(
                FieldError::new("audience", "a private incident has no public updates").into(),
            );
        }
        let written: Vec<Template> = self
            .store
            .update_templates()
            .await?
            .into_iter()
            .map(|r| r.template)
            .collect();
        let (text, chosen) =
            templates::pick(&written, phase, audience, &view.incident.incident_type);
        Ok(FilledTemplate {
            phase,
            audience,
            text: templates::fill(text, &self.template_values(&view.incident)),
            custom: chosen.is_some(),
        })
    }

    /// What fills a template for `incident`: the next update is promised one cadence
    /// interval from now (an hour where its severity has none).
    fn template_values(&self, incident: &Incident) -> TemplateValues {
        let every = self
            .settings
            .cadence
            .of(incident.severity)
            .map_or(SignedDuration::from_hours(1), |c| c.every);
        let services: Vec<&str> = incident.services.iter().map(|s| s.name.as_str()).collect();
        TemplateValues::new(
            &incident.title,
            &incident.severity.to_string(),
            &services,
            every,
            self.now(),
        )
    }

    /// An incident type a template is for: one of the configured types (read as a
    /// declaration reads it), or any.
    fn template_type(&self, raw: Option<&str>) -> AppResult<Option<String>> {
        let Some(ty) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let ty = self
            .settings
            .incident_types
            .parse(ty)
            .map_err(|e| FieldError::new("incident_type", e.message))?;
        Ok(Some(ty))
    }
}
