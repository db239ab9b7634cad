//! The status page's subscribers: readers sign up by email from the page (double opt-in,
//! counted per client address), confirm and unsubscribe with one click through links only
//! they hold; admins list them and add webhook subscribers. What they are sent is queued
//! where the news is made (`store::subscribers`) and sent by the engine.

use std::net::IpAddr;

use serde::Deserialize;
use utoipa::ToSchema;

use super::oncall::check_address;
use super::{Aplomb, AppError, AppResult, new_secret, require_admin};
use crate::domain::FieldError;
use crate::domain::access::Actor;
use crate::domain::status::SubscriberKind;
use crate::store::{SignUp, SubscriberKey, SubscriberRecord};

/// Sign-ups one client address may send a minute.
pub(super) const SIGN_UPS_PER_MINUTE: u32 = 5;

/// A subscriber as an admin adds one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberFields {
    /// `email` (sent a confirmation first) or `webhook` (subscribed at once; its signing
    /// secret is answered once).
    #[schema(example = "webhook")]
    #[schema(value_type = crate::app::schema::SubscriberKindName)]
    pub kind: String,
    /// An email address, or an http(s) URL for a webhook.
    #[schema(example = "https://hooks.example.org/status")]
    pub address: String,
    /// Components to hear of, by name; every one when empty.
    #[serde(default)]
    pub components: Vec<String>,
}

impl Aplomb {
    /// Signs up an email address from the public page: a confirmation is sent, and nothing
    /// else until it is confirmed. Answers the same whether or not the address was known.
    pub async fn sign_up(
        &self,
        client: Option<IpAddr>,
        email: &str,
        components: &[i64],
    ) -> AppResult<()> {
        if let Some(client) = client {
            self.sign_ups.take(client, self.now())?;
        }
        let known = self.store.components().await?;
        if let Some(id) = components
            .iter()
            .find(|id| !known.iter().any(|c| c.id == **id))
        {
            return Err(FieldError::new("components", format!("no component {id}")).into());
        }
        self.add_subscriber(SubscriberKind::Email, email, components)
            .await
            .map(|_| ())
    }

    /// Confirms the subscription whose link this is.
    pub async fn confirm_subscription(&self, token: &str) -> AppResult<SubscriberRecord> {
        self.store
            .confirm_subscriber(token, self.now())
            .await?
            .ok_or(AppError::NotFound("subscription"))
    }

    /// The subscription whose link this is, to say what leaving it means.
    pub async fn subscription_by_token(&self, token: &str) -> AppResult<SubscriberRecord> {
        self.store
            .subscriber_by_token(token)
            .await?
            .filter(|s| s.unsubscribed_at.is_none())
            .ok_or(AppError::NotFound("subscription"))
    }

    /// Ends the subscription whose link this is (RFC 8058's one click).
    pub async fn unsubscribe_by_token(&self, token: &str) -> AppResult<()> {
        if self
            .store
            .unsubscribe(SubscriberKey::Token(token), self.now())
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound("subscription"))
        }
    }

    pub async fn status_subscribers(&self, actor: &Actor) -> AppResult<Vec<SubscriberRecord>> {
        require_admin(actor)?;
        Ok(self.store.subscribers().await?)
    }

    /// Adds a subscriber (admins only): a webhook stands at once, an email address is sent
    /// its confirmation first.
    pub async fn add_status_subscriber(
        &self,
        actor: &Actor,
        fields: &SubscriberFields,
    ) -> AppResult<SubscriberRecord> {
        require_admin(actor)?;
        let kind: SubscriberKind = fields.kind.parse()?;
        let known = self.store.components().await?;
        let mut ids = Vec::new();
        for name in &fields.components {
            let c = known
                .iter()
                .find(|c| c.name == name.trim())
                .ok_or_else(|| {
                    FieldError::new("components", format!("no component named {name:?}"))
                })?;
            ids.push(c.id);
        }
        match self.add_subscriber(kind, &fields.address, &ids).await? {
            SignUp::Pending(s) => Ok(s),
            SignUp::Standing(_) => Err(AppError::Conflict(format!(
                "{} is subscribed already",
                fields.address.trim()
            ))),
        }
    }

    pub async fn remove_status_subscriber(&self, actor: &Actor, id: i64) -> AppResult<()> {
        require_admin(actor)?;
        if self
            .store
            .unsubscribe(SubscriberKey::Id(id), self.now())
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound("subscriber"))
        }
    }

    async fn add_subscriber(
        &self,
        kind: SubscriberKind,
        address: &str,
        components: &[i64],
    ) -> AppResult<SignUp> {
        let address = address.trim();
        check_address(kind.as_str(), address)?;
        let mut ids = components.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let signed = self
            .store
            .sign_up(
                kind,
                address,
                &ids,
                (&new_secret(), &new_secret()),
                self.now(),
            )
            .await?;
        // The confirmation goes out at once.
        self.engine.wake();
        Ok(signed)
    }
}
