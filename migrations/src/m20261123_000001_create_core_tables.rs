//! Venues, events, waves, athletes, entries, the engine's per-entry state and raw detections.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Venues {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    VenueId,
    Name,
    StartsAt,
    Timezone,
    CourseCode,
    CoursePoints,
    Status,
    Seq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Waves {
    Table,
    Id,
    EventId,
    StartsAt,
}

#[derive(DeriveIden)]
enum Athletes {
    Table,
    Id,
    FirstName,
    LastName,
    Gender,
    BirthYear,
    IsPrivate,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    Id,
    EventId,
    AthleteId,
    WaveId,
    Bib,
    Category,
    Gender,
    AgeGroup,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EntryStates {
    Table,
    EntryId,
    EventId,
    Bib,
    WaveStartMs,
    PointTimes,
    Status,
    StatusOverride,
    PenaltyMs,
    LastPoint,
    ElapsedMs,
    NetTimeMs,
    StartFromWave,
    UpdatedSeq,
}

const CREATE_DETECTIONS: &str = "CREATE TABLE detections (
    id uuid NOT NULL,
    event_id uuid NOT NULL REFERENCES events (id),
    bib varchar(16) NOT NULL,
    timing_point varchar(32) NOT NULL,
    ts timestamptz NOT NULL,
    read_id varchar(128),
    device_id varchar(128),
    received_at timestamptz NOT NULL,
    PRIMARY KEY (id, ts)
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |col: &mut ColumnDef| col.timestamp_with_time_zone().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Venues::Table)
                    .col(ColumnDef::new(Venues::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Venues::Name).string_len(200).not_null())
                    .col(ts(&mut ColumnDef::new(Venues::CreatedAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Events::VenueId).uuid().null())
                    .col(ColumnDef::new(Events::Name).string_len(200).not_null())
                    .col(ts(&mut ColumnDef::new(Events::StartsAt)))
                    .col(ColumnDef::new(Events::Timezone).string_len(64).not_null())
                    .col(ColumnDef::new(Events::CourseCode).string_len(32).not_null())
                    .col(ColumnDef::new(Events::CoursePoints).text().not_null())
                    .col(ColumnDef::new(Events::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Events::Seq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ts(&mut ColumnDef::new(Events::CreatedAt)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Events::Table, Events::VenueId)
                            .to(Venues::Table, Venues::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("events_starts_at")
                    .table(Events::Table)
                    .col(Events::StartsAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Waves::Table)
                    .col(ColumnDef::new(Waves::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Waves::EventId).uuid().not_null())
                    .col(ts(&mut ColumnDef::new(Waves::StartsAt)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Waves::Table, Waves::EventId)
                            .to(Events::Table, Events::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("waves_event_start")
                    .table(Waves::Table)
                    .col(Waves::EventId)
                    .col(Waves::StartsAt)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Athletes::Table)
                    .col(ColumnDef::new(Athletes::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Athletes::FirstName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Athletes::LastName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Athletes::Gender).string_len(8).not_null())
                    .col(ColumnDef::new(Athletes::BirthYear).integer().null())
                    .col(
                        ColumnDef::new(Athletes::IsPrivate)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ts(&mut ColumnDef::new(Athletes::CreatedAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Entries::Table)
                    .col(ColumnDef::new(Entries::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Entries::EventId).uuid().not_null())
                    .col(ColumnDef::new(Entries::AthleteId).uuid().not_null())
                    .col(ColumnDef::new(Entries::WaveId).uuid().not_null())
                    .col(ColumnDef::new(Entries::Bib).string_len(16).not_null())
                    .col(ColumnDef::new(Entries::Category).string_len(16).not_null())
                    .col(ColumnDef::new(Entries::Gender).string_len(8).not_null())
                    .col(ColumnDef::new(Entries::AgeGroup).string_len(8).null())
                    .col(ts(&mut ColumnDef::new(Entries::CreatedAt)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Entries::Table, Entries::EventId)
                            .to(Events::Table, Events::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Entries::Table, Entries::AthleteId)
                            .to(Athletes::Table, Athletes::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Entries::Table, Entries::WaveId)
                            .to(Waves::Table, Waves::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entries_event_bib")
                    .table(Entries::Table)
                    .col(Entries::EventId)
                    .col(Entries::Bib)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entries_athlete")
                    .table(Entries::Table)
                    .col(Entries::AthleteId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EntryStates::Table)
                    .col(
                        ColumnDef::new(EntryStates::EntryId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EntryStates::EventId).uuid().not_null())
                    .col(ColumnDef::new(EntryStates::Bib).string_len(16).not_null())
                    .col(
                        ColumnDef::new(EntryStates::WaveStartMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(EntryStates::PointTimes).text().not_null())
                    .col(
                        ColumnDef::new(EntryStates::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EntryStates::StatusOverride)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EntryStates::PenaltyMs)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(EntryStates::LastPoint).integer().null())
                    .col(ColumnDef::new(EntryStates::ElapsedMs).big_integer().null())
                    .col(ColumnDef::new(EntryStates::NetTimeMs).big_integer().null())
                    .col(
                        ColumnDef::new(EntryStates::StartFromWave)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(EntryStates::UpdatedSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EntryStates::Table, EntryStates::EntryId)
                            .to(Entries::Table, Entries::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entry_states_event_bib")
                    .table(EntryStates::Table)
                    .col(EntryStates::EventId)
                    .col(EntryStates::Bib)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = db.get_database_backend();
        // `timescale::prepare` created the extension before the migrations where it should.
        let timescale = crate::timescale::installed(db).await?;
        let sql = |s: &str| Statement::from_string(backend, s.to_owned());
        // Plain SQL so the primary key can include the time column, as a hypertable requires;
        // SQLite accepts it as is (its column types only set affinity).
        db.execute(sql(CREATE_DETECTIONS)).await?;
        // Idempotent ingest is a database guarantee: one row per (bib, point, instant).
        db.execute(sql("CREATE UNIQUE INDEX detections_content ON detections (event_id, bib, timing_point, ts)"))
            .await?;
        if timescale {
            // A hypertable's unique indexes must include its time column, so no read-id
            // index can be unique here: ingest keys read ids in `detection_read_ids` (a later
            // migration). Nor a foreign key (see `timescale::HYPERTABLE_SHAPE`).
            db.execute(sql(
                "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_event_id_fkey",
            ))
            .await?;
            db.execute(sql(crate::timescale::CREATE_HYPERTABLE)).await?;
        } else {
            db.execute(sql(
                "CREATE UNIQUE INDEX detections_read_id ON detections (event_id, read_id) WHERE read_id IS NOT NULL",
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("detections")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EntryStates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Entries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Athletes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Waves::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Venues::Table).to_owned())
            .await?;
        Ok(())
    }
}
