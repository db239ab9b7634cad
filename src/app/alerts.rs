//! Alerts: integrations (routing keys) per service, per-service alert rules, and reading alerts
//! with the same privacy rule as incidents.

use std::collections::HashMap;

use super::{Aplomb, AppError, AppResult, new_secret, require_admin};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::alert::{AlertRules, EventAction, MAX_SILENCE, SilenceMatch};
use crate::domain::forge::FORGE_KIND;
use crate::domain::{bounded_text, instant};
use crate::store::{AlertFilter, AlertRecord, IntegrationRecord, StoreError};

/// A maintenance window (no `match`) or a silence.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// The service it covers; every service when absent.
    pub service: Option<String>,
    /// RFC 3339; now when absent.
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(value_type = crate::app::schema::Reason)]
    pub reason: String,
    #[serde(rename = "match", default)]
    pub matchers: SilenceMatch,
}

/// An integration as its reader may see it. The routing key is the credential monitoring sends
/// events with, so only admins get it; everyone else gets its last four characters, enough to
/// tell integrations apart.
#[derive(Debug, Clone)]
pub struct IntegrationView {
    pub id: i64,
    pub service: String,
    pub kind: String,
    /// `None` unless the reader is an admin.
    pub routing_key: Option<String>,
    /// A forge integration's secret to enter in the forge; `None` unless the reader is an
    /// admin.
    pub signing_secret: Option<String>,
    pub key_hint: String,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

impl IntegrationView {
    fn new(record: IntegrationRecord, actor: &Actor) -> Self {
        let chars: Vec<char> = record.routing_key.chars().collect();
        let key_hint = chars[chars.len().saturating_sub(4)..].iter().collect();
        Self {
            id: record.id,
            service: record.service,
            kind: record.kind,
            routing_key: actor.is_admin().then_some(record.routing_key),
            signing_secret: record.signing_secret.filter(|_| actor.is_admin()),
            key_hint,
            created_at: record.created_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// An alert's payload as shown to people: the event as sent, less its `routing_key` (a
/// credential, which PagerDuty-style senders put in every event).
fn shown(mut alert: AlertRecord) -> AlertRecord {
    if let Ok(serde_json::Value::Object(mut fields)) =
        serde_json::from_str::<serde_json::Value>(&alert.payload)
        && fields.remove("routing_key").is_some()
    {
        alert.payload = serde_json::Value::Object(fields).to_string();
    }
    alert
}

/// The kinds of inbound integration a service can have.
pub const INTEGRATION_KINDS: [&str; 4] = ["events_v2", "alertmanager", "grafana", FORGE_KIND];

impl Aplomb {
    pub(super) async fn service_id(&self, name: &str) -> AppResult<i64> {
        self.list_services()
            .await?
            .into_iter()
            .find(|s| s.name == name.trim())
            .map(|s| s.id)
            .ok_or(AppError::NotFound("service"))
    }

    /// Adds an integration to a service and returns it with its new routing key.
    pub async fn create_integration(
        &self,
        actor: &Actor,
        service: &str,
        kind: &str,
    ) -> AppResult<IntegrationView> {
        self.add_integration(actor, service, kind, None).await
    }

    /// An integration for `service`, replacing (revoking, in the same transaction) the one
    /// with id `replaces`.
    async fn add_integration(
        &self,
        actor: &Actor,
        service: &str,
        kind: &str,
        replaces: Option<i64>,
    ) -> AppResult<IntegrationView> {
        require_admin(actor)?;
        let service_id = self.service_id(service).await?;
        let kind = kind.trim();
        if !INTEGRATION_KINDS.contains(&kind) {
            return Err(FieldError::new(
                "kind",
                format!("must be one of {}", INTEGRATION_KINDS.join(", ")),
            )
            .into());
        }
        // 32 characters, like PagerDuty's routing keys.
        let key = new_secret()[..32].to_string();
        let secret = (kind == FORGE_KIND).then(new_secret);
        let id = self
            .store
            .insert_integration(
                service_id,
                kind,
                &key,
                secret.as_deref(),
                replaces,
                self.now(),
            )
            .await?;
        Ok(IntegrationView::new(self.integration(id).await?, actor))
    }

    async fn integration(&self, id: i64) -> AppResult<IntegrationRecord> {
        self.store
            .integrations(None)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or(AppError::NotFound("integration"))
    }

    /// A service's integrations, with their keys for admins only (see `IntegrationView`).
    pub async fn integrations(
        &self,
        actor: &Actor,
        service: &str,
    ) -> AppResult<Vec<IntegrationView>> {
        let service_id = self.service_id(service).await?;
        Ok(self
            .store
            .integrations(Some(service_id))
            .await?
            .into_iter()
            .map(|i| IntegrationView::new(i, actor))
            .collect())
    }

    pub async fn revoke_integration(&self, actor: &Actor, id: i64) -> AppResult<()> {
        require_admin(actor)?;
        self.integration(id).await?;
        if !self.store.revoke_integration(id, self.now()).await? {
            return Err(AppError::Conflict(
                "the integration is already revoked".into(),
            ));
        }
        Ok(())
    }

    /// Replaces an integration's key: the old one stops working at once, and the new
    /// integration (a new id, the same service and kind) starts in the same commit.
    pub async fn rotate_integration(&self, actor: &Actor, id: i64) -> AppResult<IntegrationView> {
        require_admin(actor)?;
        let old = self.integration(id).await?;
        self.add_integration(actor, &old.service, &old.kind, Some(id))
            .await
    }

    pub async fn set_alert_rules(
        &self,
        actor: &Actor,
        service: &str,
        rules: AlertRules,
    ) -> AppResult<()> {
        require_admin(actor)?;
        if !(1..=10_080).contains(&rules.group_window_minutes) {
            return Err(
                FieldError::new("group_window_minutes", "must be 1 to 10080 (a week)").into(),
            );
        }
        rules.user_reports.check()?;
        let service_id = self.service_id(service).await?;
        let json = serde_json::to_string(&rules).map_err(|e| AppError::Internal(e.into()))?;
        Ok(self.store.set_alert_rules(service_id, &json).await?)
    }

    /// Alerts `actor` may see: an alert grouped into a private incident is as private as it.
    pub async fn alerts(&self, actor: &Actor, filter: &AlertFilter) -> AppResult<Vec<AlertRecord>> {
        let alerts = self.store.alerts(filter).await?;
        let mut visible: HashMap<i64, bool> = HashMap::new();
        let mut out = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let ok = match alert.incident_id {
                None => true,
                Some(id) => match visible.get(&id) {
                    Some(v) => *v,
                    None => {
                        let v = self.can_view(actor, id).await?;
                        visible.insert(id, v);
                        v
                    }
                },
            };
            if ok {
                out.push(shown(alert));
            }
        }
        Ok(out)
    }

    /// Acknowledges or resolves an alert by hand, as its monitoring would.
    pub async fn alert_action(
        &self,
        actor: &Actor,
        id: i64,
        action: EventAction,
    ) -> AppResult<AlertRecord> {
        if !actor.can_act() {
            return Err(AppError::Forbidden("viewers cannot change alerts".into()));
        }
        self.alert(actor, id).await?;
        let incident = self
            .store
            .alert_action(id, action, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AppError::NotFound("alert"),
                other => other.into(),
            })?;
        if let Some(incident) = incident {
            self.announcer().announce(incident).await;
        }
        self.alert(actor, id).await
    }

    pub async fn create_silence(&self, actor: &Actor, input: SilenceInput) -> AppResult<i64> {
        if !actor.can_act() {
            return Err(AppError::Forbidden("viewers cannot silence alerts".into()));
        }
        let reason = bounded_text("reason", &input.reason, 1, 500)?;
        let starts_at = match input.starts_at.as_deref() {
            Some(raw) => instant("starts_at", raw)?,
            None => self.now(),
        };
        let ends_at = instant("ends_at", &input.ends_at)?;
        if ends_at <= starts_at {
            return Err(FieldError::new("ends_at", "must be after starts_at").into());
        }
        if ends_at.duration_since(starts_at) > MAX_SILENCE {
            return Err(FieldError::new("ends_at", "a silence lasts at most 31 days").into());
        }
        let service =
            match input.service.as_deref() {
                Some(name) => Some(self.service_id(name).await.map_err(|_| {
                    FieldError::new("service", format!("no service named {name:?}"))
                })?),
                None => None,
            };
        Ok(self
            .store
            .insert_silence(
                service,
                &input.matchers,
                &reason,
                starts_at,
                ends_at,
                actor.id,
                self.now(),
            )
            .await?)
    }

    pub async fn end_silence(&self, actor: &Actor, id: i64) -> AppResult<()> {
        if !actor.can_act() {
            return Err(AppError::Forbidden("viewers cannot end silences".into()));
        }
        if !self.store.end_silence(id, self.now()).await? {
            return Err(AppError::NotFound("silence"));
        }
        Ok(())
    }

    pub async fn alert(&self, actor: &Actor, id: i64) -> AppResult<AlertRecord> {
        let alert = self
            .store
            .alert(id)
            .await?
            .ok_or(AppError::NotFound("alert"))?;
        if let Some(incident) = alert.incident_id
            && !self.can_view(actor, incident).await?
        {
            return Err(AppError::NotFound("alert"));
        }
        Ok(shown(alert))
    }
}
