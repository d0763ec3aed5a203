use sea_orm_migration::prelude::*;

use crate::schema::AuditRollupHourly as R;

/// Creates `audit_rollup_hourly` (see [`crate::audit_rollup`]) and fills it from the events
/// already stored, so existing deployments get the same reports at once. Running it again
/// recomputes the rollup from the events (idempotent, like every step here).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The definition of `audit_rollup_hourly` under the name `name`. On SQLite the table is
/// `WITHOUT ROWID`: its rows are stored in primary-key order, so a range of hours is read in
/// one pass without a lookup per row, and an upsert writes one B-tree instead of two.
pub(crate) async fn rollup_table<T: Iden + 'static>(
    manager: &SchemaManager<'_>,
    name: T,
) -> Result<TableCreateStatement, DbErr> {
    let mut table = Table::create();
    // The same byte-exact collation as `audit_events`, so the rollup groups and orders the
    // addresses and account names exactly as a `GROUP BY` over the events does.
    if let Some(collation) = crate::m20261128_000001_create_audit_events::exact_collation(manager).await? {
        table.character_set("utf8mb4").collate(collation);
    }
    if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        table.extra("WITHOUT ROWID");
    }
    Ok(table
        .table(name)
        .col(ColumnDef::new(R::DimKind).string_len(16).not_null())
        .col(ColumnDef::new(R::HourStart).big_integer().not_null())
        .col(ColumnDef::new(R::EventType).string_len(64).not_null())
        .col(ColumnDef::new(R::Severity).string_len(16).not_null())
        .col(ColumnDef::new(R::DimValue).string_len(255).not_null())
        .col(ColumnDef::new(R::EventCount).big_integer().not_null())
        .primary_key(
            Index::create()
                .name("pk_audit_rollup_hourly")
                .col(R::DimKind)
                .col(R::HourStart)
                .col(R::EventType)
                .col(R::Severity)
                .col(R::DimValue),
        )
        .to_owned())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(rollup_table(manager, R::Table).await?.if_not_exists().to_owned()).await?;
        crate::audit_rollup::rebuild_audit_rollup(manager.get_connection(), None).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(R::Table).if_exists().to_owned()).await
    }
}
