use sea_orm_migration::prelude::*;

/// Replaces the `audit_events (timestamp)` index with `(timestamp, event_type)`: the report's
/// per-hour aggregate then reads only the index (on SQLite it looked up every row of the period
/// in the table to get its type: over 1,000,000 events, about half the report's time). Deleting
/// by time alone, as retention does, uses the new index just as well.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    EventType,
    Timestamp,
}

const TIME: &str = "idx_audit_events_time";
const TIME_TYPE: &str = "idx_audit_events_time_type";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::create_index_once(
            manager,
            AuditEvents::Table,
            Index::create().name(TIME_TYPE).col(AuditEvents::Timestamp).col(AuditEvents::EventType).to_owned(),
        )
        .await?;
        crate::drop_index_if_exists(manager, AuditEvents::Table, TIME).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::create_index_once(
            manager,
            AuditEvents::Table,
            Index::create().name(TIME).col(AuditEvents::Timestamp).to_owned(),
        )
        .await?;
        crate::drop_index_if_exists(manager, AuditEvents::Table, TIME_TYPE).await
    }
}
