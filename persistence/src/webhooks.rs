//! The webhook repository: endpoints, and the outbox → delivery pipeline. On PostgreSQL the
//! dispatch and claim queries lock with `FOR UPDATE SKIP LOCKED`, so instances share the work
//! without handing out a message or a delivery twice; SQLite serialises writers anyway.

use crate::convert::{on_unique, unexpected};
use crate::entities::{
    events, outbox, webhook_attempts as attempts, webhook_deliveries as deliveries, webhooks,
};
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::model::TOPIC_WEBHOOK_ENDPOINT_DISABLED;
use podium_domain::ports::{
    AttemptOutcome, DeliveryQuery, DeliveryState, RepoError, WebhookAttempt, WebhookDelivery,
    WebhookRecord, WebhookRepository,
};
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

fn webhook_from(m: webhooks::Model) -> WebhookRecord {
    WebhookRecord {
        id: m.id,
        venue_id: m.venue_id,
        url: m.url,
        secret: m.secret,
        topics: m
            .topics
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        created_by: m.created_by,
        created_at: Timestamp::from_chrono(m.created_at),
        enabled: m.enabled,
        disabled_reason: m.disabled_reason,
        disabled_at: m.disabled_at.map(Timestamp::from_chrono),
        previous_secret: m.previous_secret,
        previous_secret_until: m.previous_secret_until.map(Timestamp::from_chrono),
        athlete_id: m.athlete_id,
    }
}

fn delivery_from(m: deliveries::Model) -> WebhookDelivery {
    WebhookDelivery {
        id: m.id,
        webhook_id: m.webhook_id,
        message_id: m.message_id,
        topic: m.topic,
        payload: m.payload,
        attempts: m.attempts,
        next_attempt_at: Timestamp::from_chrono(m.next_attempt_at),
        delivered_at: m.delivered_at.map(Timestamp::from_chrono),
        failed_at: m.failed_at.map(Timestamp::from_chrono),
        last_error: m.last_error,
        created_at: Timestamp::from_chrono(m.created_at),
        run_started_at: Timestamp::from_chrono(m.run_started_at.unwrap_or(m.created_at)),
    }
}

fn attempt_from(m: attempts::Model) -> WebhookAttempt {
    WebhookAttempt {
        delivery_id: m.delivery_id,
        webhook_id: m.webhook_id,
        // Not kept per attempt: only the current run's matter.
        run_started_at: Timestamp::from_chrono(m.at),
        at: Timestamp::from_chrono(m.at),
        status: m.status.and_then(|s| u16::try_from(s).ok()),
        latency_ms: m.latency_ms,
        response_excerpt: m.response_excerpt,
        error: m.error,
    }
}

/// A delivery of `message_id` (body `payload`) to `webhook_id`, due `at`.
fn new_delivery(
    webhook_id: Uuid,
    message_id: Uuid,
    topic: &str,
    payload: String,
    at: chrono::DateTime<chrono::Utc>,
) -> deliveries::ActiveModel {
    deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(webhook_id),
        message_id: Set(message_id),
        topic: Set(topic.to_owned()),
        payload: Set(payload),
        attempts: Set(0),
        next_attempt_at: Set(at),
        delivered_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
        created_at: Set(at),
        run_started_at: Set(Some(at)),
    }
}

/// Rows another transaction holds are skipped rather than waited for (PostgreSQL).
fn skip_locked<E: EntityTrait>(select: Select<E>, backend: DbBackend) -> Select<E> {
    if backend == DbBackend::Postgres {
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        select
    }
}

/// The Standard Webhooks body of an outbox message.
/// Every message's `data` carries the event's `seq` at the change it announces: deliveries
/// are not ordered (a retried message arrives after later ones), consumers order by it.
fn body(message: &outbox::Model) -> String {
    let mut data: serde_json::Value =
        serde_json::from_str(&message.payload).unwrap_or(serde_json::Value::Null);
    if let Some(object) = data.as_object_mut() {
        object
            .entry("seq")
            .or_insert_with(|| serde_json::Value::from(message.seq));
    }
    serde_json::json!({
        "type": message.topic,
        "timestamp": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

#[async_trait]
impl WebhookRepository for SeaRepository {
    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<(), RepoError> {
        let id = webhook.id;
        webhooks::Entity::insert(webhooks::ActiveModel {
            id: Set(webhook.id),
            venue_id: Set(webhook.venue_id),
            url: Set(webhook.url),
            secret: Set(webhook.secret),
            topics: Set(webhook.topics.join(" ")),
            created_by: Set(webhook.created_by),
            created_at: Set(webhook.created_at.to_chrono()),
            enabled: Set(webhook.enabled),
            disabled_reason: Set(webhook.disabled_reason),
            disabled_at: Set(webhook.disabled_at.map(|t| t.to_chrono())),
            previous_secret: Set(webhook.previous_secret),
            previous_secret_until: Set(webhook.previous_secret_until.map(|t| t.to_chrono())),
            athlete_id: Set(webhook.athlete_id),
        })
        .exec_without_returning(self.connection())
        .await
        .map_err(|e| on_unique(e, || format!("webhook {id}")))?;
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, RepoError> {
        let rows = webhooks::Entity::find()
            .order_by_desc(webhooks::Column::CreatedAt)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(webhook_from).collect())
    }

    async fn webhook(&self, id: Uuid) -> Result<Option<WebhookRecord>, RepoError> {
        let row = webhooks::Entity::find_by_id(id)
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(row.map(webhook_from))
    }

    async fn delete_webhook(&self, id: Uuid) -> Result<bool, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        deliveries::Entity::delete_many()
            .filter(deliveries::Column::WebhookId.eq(id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        attempts::Entity::delete_many()
            .filter(attempts::Column::WebhookId.eq(id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let deleted = webhooks::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn dispatch_outbox(&self, limit: u64, now: Timestamp) -> Result<usize, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let endpoints = webhooks::Entity::find()
            .all(&txn)
            .await
            .map_err(unexpected)?;
        // Without endpoints nothing is owed to anyone; messages wait (an endpoint receives only
        // messages written after it was registered).
        if endpoints.is_empty() {
            return Ok(0);
        }
        let backend = txn.get_database_backend();
        let messages = skip_locked(
            outbox::Entity::find()
                .filter(outbox::Column::DeliveredAt.is_null())
                .order_by_asc(outbox::Column::CreatedAt)
                .limit(limit),
            backend,
        )
        .all(&txn)
        .await
        .map_err(unexpected)?;
        if messages.is_empty() {
            return Ok(0);
        }
        let event_ids: Vec<Uuid> = messages.iter().map(|m| m.event_id).collect();
        let venues: HashMap<Uuid, Option<Uuid>> = events::Entity::find()
            .filter(events::Column::Id.is_in(event_ids))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|e| (e.id, e.venue_id))
            .collect();
        let at = now.to_chrono();
        let mut rows = Vec::new();
        for message in &messages {
            let venue = venues.get(&message.event_id).copied().flatten();
            for endpoint in &endpoints {
                let venue_matches = endpoint.venue_id.is_none() || endpoint.venue_id == venue;
                let topic_matches = endpoint.topics.trim().is_empty()
                    || endpoint
                        .topics
                        .split_ascii_whitespace()
                        .any(|t| t == message.topic);
                let registered_before = endpoint.created_at <= message.created_at;
                if venue_matches && topic_matches && registered_before {
                    rows.push(new_delivery(
                        endpoint.id,
                        message.id,
                        &message.topic,
                        body(message),
                        at,
                    ));
                }
            }
        }
        for chunk in rows.chunks(200) {
            deliveries::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DeliveredAt, Expr::value(at))
            .filter(outbox::Column::Id.is_in(messages.iter().map(|m| m.id)))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)?;
        Ok(messages.len())
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u64,
    ) -> Result<Vec<(WebhookDelivery, WebhookRecord)>, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let backend = txn.get_database_backend();
        let due = skip_locked(
            deliveries::Entity::find()
                .filter(deliveries::Column::DeliveredAt.is_null())
                .filter(deliveries::Column::FailedAt.is_null())
                .filter(deliveries::Column::NextAttemptAt.lte(now.to_chrono()))
                // A disabled endpoint's deliveries wait.
                .filter(
                    deliveries::Column::WebhookId.in_subquery(
                        Query::select()
                            .column(webhooks::Column::Id)
                            .from(webhooks::Entity)
                            .and_where(webhooks::Column::Enabled.eq(true))
                            .to_owned(),
                    ),
                )
                .order_by_asc(deliveries::Column::NextAttemptAt)
                .limit(limit),
            backend,
        )
        .all(&txn)
        .await
        .map_err(unexpected)?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(lease_until.to_chrono()),
            )
            .filter(deliveries::Column::Id.is_in(due.iter().map(|d| d.id)))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let endpoints: HashMap<Uuid, webhooks::Model> = webhooks::Entity::find()
            .filter(webhooks::Column::Id.is_in(due.iter().map(|d| d.webhook_id)))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        txn.commit().await.map_err(unexpected)?;
        Ok(due
            .into_iter()
            .filter_map(|d| {
                let endpoint = endpoints.get(&d.webhook_id)?.clone();
                Some((delivery_from(d), webhook_from(endpoint)))
            })
            .collect())
    }

    async fn record_attempt(
        &self,
        attempt: WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), RepoError> {
        let (delivery_id, at, attempt_run) =
            (attempt.delivery_id, attempt.at, attempt.run_started_at);
        let row = attempts::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(delivery_id),
            webhook_id: Set(attempt.webhook_id),
            at: Set(at.to_chrono()),
            status: Set(attempt.status.map(i32::from)),
            latency_ms: Set(attempt.latency_ms),
            response_excerpt: Set(attempt.response_excerpt),
            error: Set(attempt.error),
        };
        // The delivery is written first: on SQLite that takes the write lock before anything
        // is read, so concurrent attempts queue instead of failing.
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let mut update = deliveries::Entity::update_many().col_expr(
            deliveries::Column::Attempts,
            Expr::col(deliveries::Column::Attempts).add(1),
        );
        update = match outcome {
            AttemptOutcome::Delivered => update
                .col_expr(deliveries::Column::DeliveredAt, Expr::value(at.to_chrono()))
                .col_expr(
                    deliveries::Column::LastError,
                    Expr::value(Option::<String>::None),
                ),
            AttemptOutcome::Failed { error, retry_at } => {
                let update = update.col_expr(deliveries::Column::LastError, Expr::value(error));
                match retry_at {
                    Some(retry) => update.col_expr(
                        deliveries::Column::NextAttemptAt,
                        Expr::value(retry.to_chrono()),
                    ),
                    None => {
                        update.col_expr(deliveries::Column::FailedAt, Expr::value(at.to_chrono()))
                    }
                }
            }
        };
        // Only while the attempt's run is the delivery's: a redelivery or replay that started
        // a new run while this attempt was in flight stays due.
        let run = attempt_run.to_chrono();
        let updated = update
            .filter(deliveries::Column::Id.eq(delivery_id))
            .filter(
                sea_orm::Condition::any()
                    .add(deliveries::Column::RunStartedAt.eq(run))
                    .add(
                        sea_orm::Condition::all()
                            .add(deliveries::Column::RunStartedAt.is_null())
                            .add(deliveries::Column::CreatedAt.eq(run)),
                    ),
            )
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        // The attempt happened either way; it is kept unless the delivery went with its
        // endpoint.
        let exists = updated.rows_affected > 0
            || deliveries::Entity::find_by_id(delivery_id)
                .one(&txn)
                .await
                .map_err(unexpected)?
                .is_some();
        if exists {
            attempts::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(())
    }

    async fn deliveries(&self, query: DeliveryQuery) -> Result<Vec<WebhookDelivery>, RepoError> {
        if query.webhook_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.is_in(query.webhook_ids));
        select = match query.state {
            None => select,
            Some(DeliveryState::Delivered) => {
                select.filter(deliveries::Column::DeliveredAt.is_not_null())
            }
            Some(DeliveryState::Failed) => {
                select.filter(deliveries::Column::FailedAt.is_not_null())
            }
            Some(DeliveryState::Pending) => select
                .filter(deliveries::Column::DeliveredAt.is_null())
                .filter(deliveries::Column::FailedAt.is_null()),
        };
        let rows = select
            .order_by_desc(deliveries::Column::CreatedAt)
            .order_by_desc(deliveries::Column::Id)
            .limit(query.limit)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(delivery_from).collect())
    }

    async fn delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>, RepoError> {
        Ok(deliveries::Entity::find_by_id(id)
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .map(delivery_from))
    }

    async fn attempts(&self, delivery_ids: &[Uuid]) -> Result<Vec<WebhookAttempt>, RepoError> {
        let mut found = Vec::new();
        for chunk in delivery_ids.chunks(500) {
            found.extend(
                attempts::Entity::find()
                    .filter(attempts::Column::DeliveryId.is_in(chunk.iter().copied()))
                    .order_by_asc(attempts::Column::At)
                    .order_by_asc(attempts::Column::Id)
                    .all(self.connection())
                    .await
                    .map_err(unexpected)?
                    .into_iter()
                    .map(attempt_from),
            );
        }
        Ok(found)
    }

    async fn update_webhook(&self, webhook: WebhookRecord) -> Result<bool, RepoError> {
        let updated = webhooks::Entity::update_many()
            .col_expr(webhooks::Column::Url, Expr::value(webhook.url))
            .col_expr(
                webhooks::Column::Topics,
                Expr::value(webhook.topics.join(" ")),
            )
            .col_expr(webhooks::Column::Secret, Expr::value(webhook.secret))
            .col_expr(webhooks::Column::Enabled, Expr::value(webhook.enabled))
            .col_expr(
                webhooks::Column::DisabledReason,
                Expr::value(webhook.disabled_reason),
            )
            .col_expr(
                webhooks::Column::DisabledAt,
                Expr::value(webhook.disabled_at.map(|t| t.to_chrono())),
            )
            .col_expr(
                webhooks::Column::PreviousSecret,
                Expr::value(webhook.previous_secret),
            )
            .col_expr(
                webhooks::Column::PreviousSecretUntil,
                Expr::value(webhook.previous_secret_until.map(|t| t.to_chrono())),
            )
            .filter(webhooks::Column::Id.eq(webhook.id))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(updated.rows_affected > 0)
    }

    async fn disable_webhook(
        &self,
        id: Uuid,
        reason: &str,
        at: Timestamp,
        data: serde_json::Value,
    ) -> Result<bool, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let disabled = webhooks::Entity::update_many()
            .col_expr(webhooks::Column::Enabled, Expr::value(false))
            .col_expr(webhooks::Column::DisabledReason, Expr::value(reason))
            .col_expr(webhooks::Column::DisabledAt, Expr::value(at.to_chrono()))
            .filter(webhooks::Column::Id.eq(id))
            .filter(webhooks::Column::Enabled.eq(true))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if disabled.rows_affected == 0 {
            return Ok(false);
        }
        let Some(endpoint) = webhooks::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(unexpected)?
        else {
            return Ok(false);
        };
        let mut owners = webhooks::Entity::find()
            .filter(webhooks::Column::Id.ne(id))
            .filter(webhooks::Column::Enabled.eq(true));
        owners = match endpoint.venue_id {
            Some(venue) => owners.filter(
                sea_orm::Condition::any()
                    .add(webhooks::Column::CreatedBy.eq(endpoint.created_by.clone()))
                    .add(webhooks::Column::VenueId.eq(venue)),
            ),
            None => owners.filter(webhooks::Column::CreatedBy.eq(endpoint.created_by.clone())),
        };
        let message_id = Uuid::now_v7();
        let at = at.to_chrono();
        let payload = serde_json::json!({
            "type": TOPIC_WEBHOOK_ENDPOINT_DISABLED,
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        let rows: Vec<_> = owners
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(webhook_from)
            .filter(|w| w.receives(TOPIC_WEBHOOK_ENDPOINT_DISABLED))
            .map(|w| {
                new_delivery(
                    w.id,
                    message_id,
                    TOPIC_WEBHOOK_ENDPOINT_DISABLED,
                    payload.clone(),
                    at,
                )
            })
            .collect();
        if !rows.is_empty() {
            deliveries::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(true)
    }

    async fn notify_athlete(
        &self,
        athlete_id: Uuid,
        coaches: &[String],
        message_id: Uuid,
        topic: &str,
        payload: String,
        at: Timestamp,
    ) -> Result<u64, RepoError> {
        let mut who = sea_orm::Condition::any().add(webhooks::Column::AthleteId.eq(athlete_id));
        if !coaches.is_empty() {
            who = who.add(webhooks::Column::CreatedBy.is_in(coaches.iter().cloned()));
        }
        let at = at.to_chrono();
        let rows: Vec<_> = webhooks::Entity::find()
            .filter(webhooks::Column::Enabled.eq(true))
            .filter(who)
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(webhook_from)
            .filter(|w| w.receives(topic))
            .map(|w| new_delivery(w.id, message_id, topic, payload.clone(), at))
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let inserted = deliveries::Entity::insert_many(rows)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    deliveries::Column::MessageId,
                    deliveries::Column::WebhookId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .do_nothing()
            .exec_without_returning(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(match inserted {
            sea_orm::TryInsertResult::Inserted(n) => n,
            _ => 0,
        })
    }

    async fn last_delivered(&self, webhook_id: Uuid) -> Result<Option<Timestamp>, RepoError> {
        Ok(deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(webhook_id))
            .filter(deliveries::Column::DeliveredAt.is_not_null())
            .order_by_desc(deliveries::Column::DeliveredAt)
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .and_then(|d| d.delivered_at.map(Timestamp::from_chrono)))
    }

    async fn redeliver(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, RepoError> {
        restart(self.connection(), &[id], now.to_chrono()).await?;
        self.delivery(id).await
    }

    async fn replay(
        &self,
        webhook_id: Uuid,
        since: Timestamp,
        until: Timestamp,
        topics: &[String],
        now: Timestamp,
    ) -> Result<u64, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        // Written first (a no-op): the endpoint is locked and, on SQLite, the write lock taken
        // before anything is read.
        webhooks::Entity::update_many()
            .col_expr(
                webhooks::Column::Url,
                Expr::col(webhooks::Column::Url).into(),
            )
            .filter(webhooks::Column::Id.eq(webhook_id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let Some(endpoint) = webhooks::Entity::find_by_id(webhook_id)
            .one(&txn)
            .await
            .map_err(unexpected)?
            .map(webhook_from)
        else {
            return Err(RepoError::NotFound(format!("webhook {webhook_id}")));
        };
        // Messages not dispatched yet reach the endpoint anyway.
        let messages = outbox::Entity::find()
            .filter(outbox::Column::CreatedAt.gte(since.to_chrono()))
            .filter(outbox::Column::CreatedAt.lt(until.to_chrono()))
            .filter(outbox::Column::DeliveredAt.is_not_null())
            .order_by_asc(outbox::Column::CreatedAt)
            .all(&txn)
            .await
            .map_err(unexpected)?;
        let venues: HashMap<Uuid, Option<Uuid>> = events::Entity::find()
            .filter(events::Column::Id.is_in(messages.iter().map(|m| m.event_id)))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|e| (e.id, e.venue_id))
            .collect();
        let wanted = |topic: &str| {
            if topics.is_empty() {
                endpoint.receives(topic)
            } else {
                topics.iter().any(|t| t == topic)
            }
        };
        let messages: Vec<_> = messages
            .into_iter()
            .filter(|m| {
                let venue = venues.get(&m.event_id).copied().flatten();
                (endpoint.venue_id.is_none() || endpoint.venue_id == venue) && wanted(&m.topic)
            })
            .collect();
        let had: HashMap<Uuid, Uuid> = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(webhook_id))
            .filter(deliveries::Column::MessageId.is_in(messages.iter().map(|m| m.id)))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|d| (d.message_id, d.id))
            .collect();
        let at = now.to_chrono();
        let again: Vec<Uuid> = messages
            .iter()
            .filter_map(|m| had.get(&m.id).copied())
            .collect();
        restart(&txn, &again, at).await?;
        let new: Vec<_> = messages
            .iter()
            .filter(|m| !had.contains_key(&m.id))
            .map(|m| new_delivery(webhook_id, m.id, &m.topic, body(m), at))
            .collect();
        for chunk in new.chunks(200) {
            deliveries::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(messages.len() as u64)
    }

    async fn backlog(&self) -> Result<(u64, Option<Timestamp>), RepoError> {
        let pending = || {
            deliveries::Entity::find()
                .filter(deliveries::Column::DeliveredAt.is_null())
                .filter(deliveries::Column::FailedAt.is_null())
        };
        let count = pending()
            .count(self.connection())
            .await
            .map_err(unexpected)?;
        let oldest = pending()
            .order_by_asc(deliveries::Column::CreatedAt)
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .map(|d| Timestamp::from_chrono(d.created_at));
        Ok((count, oldest))
    }
}

/// Starts a new run of attempts for these deliveries, due `at`.
async fn restart<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), RepoError> {
    for chunk in ids.chunks(500) {
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Attempts, Expr::value(0))
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(at))
            .col_expr(deliveries::Column::RunStartedAt, Expr::value(at))
            .col_expr(
                deliveries::Column::DeliveredAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(
                deliveries::Column::FailedAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(deliveries::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await
            .map_err(unexpected)?;
    }
    Ok(())
}
