//! Webhook endpoints (`webhooks:manage` at the endpoint's venue; endpoints for every event:
//! admins and unbound integrations) and their deliveries.

use crate::app::webhooks;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::time;
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::ports::{DeliveryState, WebhookAttempt, WebhookDelivery, WebhookRecord};
use podium_domain::timing::Timestamp;

/// Whether an endpoint receives its messages.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum WebhookStatus {
    Enabled,
    /// Nothing is sent; its deliveries wait (within their retry window) until it is enabled
    /// again. `disabledReason` says why.
    Disabled,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: due, retrying, or held by a disabled endpoint.
    Pending,
    Delivered,
    /// Given up after its retry window (or at once on `410 Gone`): the dead letters.
    Failed,
}

impl From<WebhookDeliveryStatus> for DeliveryState {
    fn from(s: WebhookDeliveryStatus) -> Self {
        match s {
            WebhookDeliveryStatus::Pending => DeliveryState::Pending,
            WebhookDeliveryStatus::Delivered => DeliveryState::Delivered,
            WebhookDeliveryStatus::Failed => DeliveryState::Failed,
        }
    }
}

impl From<DeliveryState> for WebhookDeliveryStatus {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Pending => WebhookDeliveryStatus::Pending,
            DeliveryState::Delivered => WebhookDeliveryStatus::Delivered,
            DeliveryState::Failed => WebhookDeliveryStatus::Failed,
        }
    }
}

/// An endpoint receiving an event's messages (Standard Webhooks).
#[derive(SimpleObject)]
#[graphql(name = "Webhook")]
pub struct WebhookObject {
    pub id: ID,
    pub url: String,
    /// Topics it receives; empty: all (`event.live`, `event.provisional`, `event.official`,
    /// `event.cancelled`, `result.amended`, `athlete.personal_best`, `event.analytics_ready`,
    /// `webhook.endpoint_disabled`).
    pub topics: Vec<String>,
    /// Events of this venue; null: every event.
    pub venue_id: Option<ID>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub status: WebhookStatus,
    /// Why it is disabled: by whom, or the answer that made podium disable it (`410 Gone`, a
    /// whole retry window of failures).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when messages are also signed with the secret before the last rotation.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
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
            status: if w.enabled {
                WebhookStatus::Enabled
            } else {
                WebhookStatus::Disabled
            },
            disabled_reason: w.disabled_reason,
            disabled_at: w.disabled_at.map(time),
            previous_secret_valid_until: w
                .previous_secret_until
                .filter(|until| until.0 > chrono::Utc::now().timestamp_millis())
                .map(time),
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

/// One HTTP attempt of a delivery.
#[derive(SimpleObject)]
#[graphql(name = "WebhookAttempt")]
pub struct WebhookAttemptObject {
    pub at: DateTime<Utc>,
    /// The HTTP status answered; null when no answer came (timeout, refused connection).
    pub status: Option<i32>,
    pub latency_ms: i64,
    /// The first 512 bytes of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl From<WebhookAttempt> for WebhookAttemptObject {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            at: time(a.at),
            status: a.status.map(i32::from),
            latency_ms: a.latency_ms,
            response_excerpt: a.response_excerpt,
            error: a.error,
        }
    }
}

/// One message on its way to one endpoint.
#[derive(SimpleObject)]
#[graphql(name = "WebhookDelivery")]
pub struct WebhookDeliveryObject {
    pub id: ID,
    pub webhook_id: ID,
    /// The `webhook-id` header (`msg_…`), the same on every attempt, redelivery and replay.
    pub message_id: String,
    pub topic: String,
    pub status: WebhookDeliveryStatus,
    /// Every attempt, oldest first (across redeliveries).
    pub attempts: Vec<WebhookAttemptObject>,
    /// Attempts in the current run (since creation, or the latest redelivery or replay).
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set when podium gave up after `webhook_max_attempts`.
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<(WebhookDelivery, Vec<WebhookAttempt>)> for WebhookDeliveryObject {
    fn from((d, attempts): (WebhookDelivery, Vec<WebhookAttempt>)) -> Self {
        let done = d.delivered_at.is_some() || d.failed_at.is_some();
        Self {
            id: ID(d.id.to_string()),
            webhook_id: ID(d.webhook_id.to_string()),
            message_id: format!("msg_{}", d.message_id.simple()),
            topic: d.topic.clone(),
            status: d.state().into(),
            attempts: attempts.into_iter().map(Into::into).collect(),
            attempt_count: d.attempts,
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

/// Changes to an endpoint; what is omitted stays.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// Where to POST from now on (pending deliveries too).
    pub url: Option<String>,
    /// Topics to receive; empty: all.
    pub topics: Option<Vec<String>>,
    /// False pauses it: nothing is sent, deliveries wait (within their retry window); true
    /// enables it again (also after podium disabled it).
    pub enabled: Option<bool>,
}

/// An endpoint's new secret, shown this once.
#[derive(SimpleObject)]
pub struct RotatedWebhookSecret {
    pub webhook: WebhookObject,
    /// The new `whsec_…`; until `webhook.previousSecretValidUntil` messages carry a signature
    /// with each secret.
    pub secret: String,
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

    /// The latest deliveries of an endpoint, or of every endpoint you manage, newest first,
    /// with their attempts; `status: FAILED` lists the dead letters.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: Option<ID>,
        status: Option<WebhookDeliveryStatus>,
        #[graphql(validator(minimum = 1, maximum = 500), default = 20)] first: u64,
    ) -> GqlResult<Vec<WebhookDeliveryObject>> {
        let webhook_id = webhook_id
            .as_ref()
            .map(|id| parse_id("webhookId", id))
            .transpose()?;
        let found = webhooks::deliveries(
            app(ctx),
            principal(ctx),
            webhook_id,
            status.map(Into::into),
            first,
        )
        .await
        .gql()?;
        Ok(found.into_iter().map(Into::into).collect())
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

    /// Changes an endpoint's URL, topics or state (`enabled: false` pauses it).
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> GqlResult<WebhookObject> {
        let id = parse_id("id", &id)?;
        let changes = webhooks::WebhookChanges {
            url: input.url,
            topics: input.topics,
            enabled: input.enabled,
        };
        let updated = webhooks::update_webhook(app(ctx), principal(ctx), id, changes)
            .await
            .gql()?;
        Ok(updated.into())
    }

    /// Gives an endpoint a new secret; for `overlapSecs` (at most a week; 0: none) messages
    /// are signed with the old and the new one. The new secret is shown this once.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 86400)] overlap_secs: u64,
    ) -> GqlResult<RotatedWebhookSecret> {
        let id = parse_id("id", &id)?;
        let (webhook, secret) = webhooks::rotate_secret(app(ctx), principal(ctx), id, overlap_secs)
            .await
            .gql()?;
        Ok(RotatedWebhookSecret {
            webhook: webhook.into(),
            secret,
        })
    }

    /// Sends again every message the endpoint would receive that was written between `since`
    /// and `until` (now when omitted), of `topics` (its own when omitted): the same messages,
    /// with their `webhook-id`, so a consumer deduplicating on it is safe. Answers how many.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn replay_webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        #[graphql(default)] topics: Vec<String>,
    ) -> GqlResult<u64> {
        let id = parse_id("webhookId", &webhook_id)?;
        webhooks::replay(
            app(ctx),
            principal(ctx),
            id,
            Timestamp::from_chrono(since),
            until.map(Timestamp::from_chrono),
            &topics,
        )
        .await
        .gql()
    }

    /// Sends one delivery again (a new run of attempts; the same `webhook-id`).
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn redeliver(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> GqlResult<WebhookDeliveryObject> {
        let id = parse_id("deliveryId", &delivery_id)?;
        Ok(webhooks::redeliver(app(ctx), principal(ctx), id)
            .await
            .gql()?
            .into())
    }

    /// Removes an endpoint and its pending deliveries.
    #[graphql(guard = "RequireScope(Scope::WebhooksManage)")]
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let webhook = visible_webhook(ctx, &id).await?;
        app(ctx).webhooks.delete_webhook(webhook.id).await.gql()
    }
}
