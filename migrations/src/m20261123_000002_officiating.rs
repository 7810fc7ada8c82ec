//! Officiating: per-event plausibility limits, corrections (append-only), plausibility flags
//! and the transactional outbox of domain events.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    SegmentLimits,
}

#[derive(DeriveIden)]
enum EntryStates {
    Table,
    OpenFlags,
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Corrections {
    Table,
    Id,
    EventId,
    EntryId,
    Bib,
    Kind,
    PenaltyMs,
    TimingPoint,
    AtMs,
    TargetId,
    Reason,
    Author,
    CreatedAt,
    Seq,
    Amendment,
}

#[derive(DeriveIden)]
enum Flags {
    Table,
    Id,
    EventId,
    EntryId,
    Bib,
    FlagKey,
    Kind,
    TimingPoint,
    AtMs,
    RelatedPoint,
    RelatedAtMs,
    Detail,
    Status,
    RaisedSeq,
    UpdatedSeq,
    History,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Topic,
    Payload,
    Seq,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::SegmentLimits).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EntryStates::Table)
                    .add_column(
                        ColumnDef::new(EntryStates::OpenFlags)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Corrections::Table)
                    .col(
                        ColumnDef::new(Corrections::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Corrections::EventId).uuid().not_null())
                    .col(ColumnDef::new(Corrections::EntryId).uuid().not_null())
                    .col(ColumnDef::new(Corrections::Bib).string_len(16).not_null())
                    .col(ColumnDef::new(Corrections::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Corrections::PenaltyMs).big_integer().null())
                    .col(
                        ColumnDef::new(Corrections::TimingPoint)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(Corrections::AtMs).big_integer().null())
                    .col(ColumnDef::new(Corrections::TargetId).uuid().null())
                    .col(ColumnDef::new(Corrections::Reason).text().not_null())
                    .col(
                        ColumnDef::new(Corrections::Author)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Corrections::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Corrections::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Corrections::Amendment).boolean().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Corrections::Table, Corrections::EventId)
                            .to(Events::Table, Events::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Corrections::Table, Corrections::EntryId)
                            .to(Entries::Table, Entries::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("corrections_by_entry")
                    .table(Corrections::Table)
                    .col(Corrections::EventId)
                    .col(Corrections::EntryId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Flags::Table)
                    .col(ColumnDef::new(Flags::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Flags::EventId).uuid().not_null())
                    .col(ColumnDef::new(Flags::EntryId).uuid().not_null())
                    .col(ColumnDef::new(Flags::Bib).string_len(16).not_null())
                    .col(ColumnDef::new(Flags::FlagKey).string_len(96).not_null())
                    .col(ColumnDef::new(Flags::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Flags::TimingPoint).string_len(32).not_null())
                    .col(ColumnDef::new(Flags::AtMs).big_integer().null())
                    .col(ColumnDef::new(Flags::RelatedPoint).string_len(32).null())
                    .col(ColumnDef::new(Flags::RelatedAtMs).big_integer().null())
                    .col(ColumnDef::new(Flags::Detail).text().not_null())
                    .col(ColumnDef::new(Flags::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Flags::RaisedSeq).big_integer().not_null())
                    .col(ColumnDef::new(Flags::UpdatedSeq).big_integer().not_null())
                    .col(ColumnDef::new(Flags::History).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Flags::Table, Flags::EventId)
                            .to(Events::Table, Events::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("flags_identity")
                    .table(Flags::Table)
                    .col(Flags::EntryId)
                    .col(Flags::FlagKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("flags_by_event_status")
                    .table(Flags::Table)
                    .col(Flags::EventId)
                    .col(Flags::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Outbox::EventId).uuid().not_null())
                    .col(ColumnDef::new(Outbox::Topic).string_len(64).not_null())
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    .col(ColumnDef::new(Outbox::Seq).big_integer().not_null())
                    .col(
                        ColumnDef::new(Outbox::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Outbox::DeliveredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::DeliveredAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            Flags::Table.into_iden(),
            Corrections::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(EntryStates::Table)
                    .drop_column(EntryStates::OpenFlags)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::SegmentLimits)
                    .to_owned(),
            )
            .await
    }
}
