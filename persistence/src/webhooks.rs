//! The webhook repository: endpoints, and the outbox → delivery pipeline. On PostgreSQL the
//! dispatch and claim queries lock with `FOR UPDATE SKIP LOCKED`, so instances share the work
//! without handing out a message or a delivery twice; SQLite serialises writers anyway.

use crate::convert::{on_unique, unexpected};
use crate::entities::{events, outbox, webhook_deliveries as deliveries, webhooks};
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::ports::{
    AttemptOutcome, RepoError, WebhookDelivery, WebhookRecord, WebhookRepository,
};
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
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
fn body(message: &outbox::Model) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&message.payload).unwrap_or(serde_json::Value::Null);
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
                    rows.push(deliveries::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        webhook_id: Set(endpoint.id),
                        message_id: Set(message.id),
                        topic: Set(message.topic.clone()),
                        payload: Set(body(message)),
                        attempts: Set(0),
                        next_attempt_at: Set(at),
                        delivered_at: Set(None),
                        failed_at: Set(None),
                        last_error: Set(None),
                        created_at: Set(at),
                    });
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
        delivery_id: Uuid,
        at: Timestamp,
        outcome: AttemptOutcome,
    ) -> Result<(), RepoError> {
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
        update
            .filter(deliveries::Column::Id.eq(delivery_id))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        webhook_id: Uuid,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        let rows = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(webhook_id))
            .order_by_desc(deliveries::Column::CreatedAt)
            .order_by_desc(deliveries::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(delivery_from).collect())
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
