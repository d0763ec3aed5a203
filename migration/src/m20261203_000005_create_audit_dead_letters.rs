use sea_orm_migration::prelude::*;

/// Creates `audit_dead_letters`: events a sink refused for good (the audit logger moves them
/// here instead of retrying them forever), with the error, and an index on the event id.
///
/// `raw_event` is the event as ASCII-only JSON, so it always fits: `TEXT` on SQLite and
/// PostgreSQL, `LONGTEXT` on MySQL/MariaDB (whose `TEXT` stops at 64 KiB).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditDeadLetters {
    Table,
    Id,
    EventId,
    Sink,
    Error,
    RawEvent,
    DeadLetteredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == sea_orm::DatabaseBackend::MySql;
        let mut at = ColumnDef::new(AuditDeadLetters::DeadLetteredAt);
        let mut raw_event = ColumnDef::new(AuditDeadLetters::RawEvent);
        if mysql {
            at.custom(Alias::new("DATETIME(6)"));
            raw_event.custom(Alias::new("LONGTEXT"));
        } else {
            at.timestamp_with_time_zone();
            raw_event.text();
        }
        let mut table = Table::create();
        if let Some(collation) = crate::m20261128_000001_create_audit_events::exact_collation(manager).await? {
            table.character_set("utf8mb4").collate(collation);
        }
        manager
            .create_table(
                table
                    .table(AuditDeadLetters::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AuditDeadLetters::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(AuditDeadLetters::EventId).string_len(36).not_null())
                    .col(ColumnDef::new(AuditDeadLetters::Sink).string_len(64).not_null())
                    .col(ColumnDef::new(AuditDeadLetters::Error).text().not_null())
                    .col(raw_event.not_null())
                    .col(at.not_null())
                    .to_owned(),
            )
            .await?;
        crate::create_index_once(
            manager,
            AuditDeadLetters::Table,
            Index::create().name("idx_audit_dead_letters_event").col(AuditDeadLetters::EventId).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditDeadLetters::Table).if_exists().to_owned()).await
    }
}
