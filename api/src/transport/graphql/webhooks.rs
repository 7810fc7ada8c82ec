//! Webhook endpoints (`webhooks:manage` at the endpoint's venue; endpoints for every event:
//! admins and unbound integrations) and their deliveries.

use crate::app::webhooks;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::time;
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::ports::{WebhookDelivery, WebhookRecord};

/// An endpoint receiving an event's messages (Standard Webhooks).
#[derive(SimpleObject)]
#[graphql(name = "Webhook")]
pub struct WebhookObject {
    pub id: ID,
    pub url: String,
    /// Topics it receives; empty: all (`event.live`, `event.provisional`, `event.official`,
    /// `event.cancelled`, `result.amended`).
    pub topics: Vec<String>,
    /// Events of this venue; null: every event.
    pub venue_id: Option<ID>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookRecord> for WebhookObject {
    fn from(w: WebhookRecord) -> Self {
        Self {
            id: ID(w.id.to_string()),
            url: w.url,
            topics: w.topics,
            venue_id: w.venue_id.map(|v| ID(v.to_string())),
            created_by: w.created_by,
            created_at: time(w.created_at),
        }
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhook {
    pub webhook: WebhookObject,
    /// `whsec_…`: verify `webhook-signature` with it (any Standard Webhooks library does).
    pub secret: String,
}

/// One message on its way to one endpoint.
#[derive(SimpleObject)]
#[graphql(name = "WebhookDelivery")]
pub struct WebhookDeliveryObject {
    pub id: ID,
    /// The `webhook-id` header (`msg_…`), the same on every attempt.
    pub message_id: String,
    pub topic: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set when podium gave up after `webhook_max_attempts`.
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookDelivery> for WebhookDeliveryObject {
    fn from(d: WebhookDelivery) -> Self {
        let done = d.delivered_at.is_some() || d.failed_at.is_some();
        Self {
            id: ID(d.id.to_string()),
            message_id: format!("msg_{}", d.message_id.simple()),
            topic: d.topic,
            attempts: d.attempts,
            next_attempt_at: (!done).then(|| time(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(time),
            failed_at: d.failed_at.map(time),
            last_error: d.last_error,
            created_at: time(d.created_at),
        }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// Where to POST; https in production, never a private address.
    pub url: String,
    /// Topics to receive; all when omitted or empty.
    #[graphql(default)]
    pub topics: Vec<String>,
    /// Receive this venue's events; omit for every event (admins).
    pub venue_id: Option<ID>,
}

async fn visible_webhook(ctx: &Context<'_>, id: &ID) -> GqlResult<WebhookRecord> {
    let id = parse_id("id", id)?;
    webhooks::visible_webhook(app(ctx), principal(ctx), id)
        .await
        .gql()
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhook endpoints you manage.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn webhooks(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookObject>> {
        let managed = webhooks::managed_webhooks(app(ctx), principal(ctx))
            .await
            .gql()?;
        Ok(managed.into_iter().map(Into::into).collect())
    }

    /// An endpoint's latest deliveries, newest first.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        #[graphql(validator(minimum = 1, maximum = 500), default = 20)] first: u64,
    ) -> GqlResult<Vec<WebhookDeliveryObject>> {
        let webhook = visible_webhook(ctx, &webhook_id).await?;
        let deliveries = app(ctx)
            .webhooks
            .deliveries(webhook.id, first)
            .await
            .gql()?;
        Ok(deliveries.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint; it receives the messages written from now on. The secret in the
    /// answer is shown this once.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> GqlResult<CreatedWebhook> {
        let venue_id = input
            .venue_id
            .as_ref()
            .map(|v| parse_id("venueId", v))
            .transpose()?;
        let (webhook, secret) = webhooks::create_webhook(
            app(ctx),
            principal(ctx),
            &input.url,
            &input.topics,
            venue_id,
        )
        .await
        .gql()?;
        Ok(CreatedWebhook {
            secret,
            webhook: webhook.into(),
        })
    }

    /// Removes an endpoint and its pending deliveries.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let webhook = visible_webhook(ctx, &id).await?;
        app(ctx).webhooks.delete_webhook(webhook.id).await.gql()
    }
}
