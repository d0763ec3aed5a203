use sea_orm_migration::prelude::*;

/// Creates `audit_events` and the three composite indexes reports and investigations use:
/// (event_type, timestamp), (actor_id, timestamp), (client_ip, timestamp).
///
/// `actor_id` is plain text, not a foreign key: audit rows must outlive the users they name.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    EventType,
    Severity,
    Timestamp,
    ActorId,
    ActorName,
    ClientIp,
    UserAgent,
    RequestId,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut timestamp = ColumnDef::new(AuditEvents::Timestamp);
        match manager.get_database_backend() {
            // MySQL's TIMESTAMP ends in 2038 and drops fractions; DATETIME(6) stores UTC as given.
            sea_orm::DatabaseBackend::MySql => timestamp.custom(Alias::new("DATETIME(6)")),
            _ => timestamp.timestamp_with_time_zone(),
        };
        let mut table = Table::create();
        if let Some(collation) = exact_collation(manager).await? {
            table.character_set("utf8mb4").collate(collation);
        }
        manager
            .create_table(
                table
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AuditEvents::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(AuditEvents::EventType).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::Severity).string_len(16).not_null())
                    .col(timestamp.not_null())
                    .col(ColumnDef::new(AuditEvents::ActorId).string_len(191).null())
                    .col(ColumnDef::new(AuditEvents::ActorName).string_len(255).null())
                    .col(ColumnDef::new(AuditEvents::ClientIp).string_len(45).null())
                    .col(ColumnDef::new(AuditEvents::UserAgent).text().null())
                    .col(ColumnDef::new(AuditEvents::RequestId).string_len(128).null())
                    .col(ColumnDef::new(AuditEvents::Details).json().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_audit_events_type_time", AuditEvents::EventType),
            ("idx_audit_events_actor_time", AuditEvents::ActorId),
            ("idx_audit_events_ip_time", AuditEvents::ClientIp),
        ] {
            crate::create_index_once(
                manager,
                AuditEvents::Table,
                Index::create().name(name).col(column).col(AuditEvents::Timestamp).to_owned(),
            )
            .await?;
        }
        // Retention deletes by time alone.
        crate::create_index_once(
            manager,
            AuditEvents::Table,
            Index::create().name("idx_audit_events_time").col(AuditEvents::Timestamp).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditEvents::Table).if_exists().to_owned()).await
    }
}

/// On MySQL/MariaDB, a collation that compares text by its bytes, trailing spaces included, as
/// SQLite and PostgreSQL do: the default collation would merge `admin`, `Admin` and `admin ` into
/// one account in reports. `utf8mb4_bin` still ignores trailing spaces (PAD SPACE), so the
/// NO PAD binary collation is chosen, whose name differs between MariaDB and MySQL 8.
pub(crate) async fn exact_collation(manager: &SchemaManager<'_>) -> Result<Option<&'static str>, DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::MySql {
        return Ok(None);
    }
    let version = manager
        .get_connection()
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::MySql, "SELECT VERSION()"))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?
        .unwrap_or_default();
    Ok(Some(if version.contains("MariaDB") { "utf8mb4_nopad_bin" } else { "utf8mb4_0900_bin" }))
}
