use sea_orm_migration::prelude::*;

/// The `witnessed` column of `audit_checkpoints`: the other chains' checkpoints a checkpoint
/// witnesses, as a JSON array (`NULL` for none), so that a chain removed whole or cut short is
/// caught by the verifier (see `rail_graphql_security::audit::checkpoint`).
///
/// Idempotent: the column is added unless it exists.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Witnessed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = AuditCheckpoints::Table.to_string();
        if manager.has_column(&table, &AuditCheckpoints::Witnessed.to_string()).await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditCheckpoints::Table)
                    .add_column(ColumnDef::new(AuditCheckpoints::Witnessed).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = AuditCheckpoints::Table.to_string();
        if manager.has_table(&table).await?
            && manager.has_column(&table, &AuditCheckpoints::Witnessed.to_string()).await?
        {
            manager
                .alter_table(
                    Table::alter().table(AuditCheckpoints::Table).drop_column(AuditCheckpoints::Witnessed).to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
