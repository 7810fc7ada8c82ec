//! Webhooks a consumer can rely on: an endpoint can be disabled (by its manager, or by podium
//! after `410 Gone` or days of failures) and says why; its secret can be rotated with an
//! overlap (the previous one keeps signing until `previous_secret_until`); a delivery's
//! current run of attempts starts at `run_started_at` (a redelivery or replay starts a new
//! one); and every attempt is kept in `webhook_attempts` (status, latency, response excerpt,
//! error).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Enabled,
    DisabledReason,
    DisabledAt,
    PreviousSecret,
    PreviousSecretUntil,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    RunStartedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    WebhookId,
    At,
    Status,
    LatencyMs,
    ResponseExcerpt,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            ColumnDef::new(Webhooks::Enabled)
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
            ColumnDef::new(Webhooks::DisabledReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Webhooks::DisabledAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Webhooks::PreviousSecret)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Webhooks::PreviousSecretUntil)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .add_column(
                        ColumnDef::new(WebhookDeliveries::RunStartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(
                        ColumnDef::new(WebhookAttempts::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::DeliveryId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::WebhookId).uuid().not_null())
                    .col(
                        ColumnDef::new(WebhookAttempts::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::Status).integer().null())
                    .col(
                        ColumnDef::new(WebhookAttempts::LatencyMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::ResponseExcerpt)
                            .text()
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::Error).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_attempts_delivery")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .col(WebhookAttempts::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookAttempts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .drop_column(WebhookDeliveries::RunStartedAt)
                    .to_owned(),
            )
            .await?;
        for column in [
            Webhooks::PreviousSecretUntil,
            Webhooks::PreviousSecret,
            Webhooks::DisabledAt,
            Webhooks::DisabledReason,
            Webhooks::Enabled,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
