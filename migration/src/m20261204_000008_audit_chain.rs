use sea_orm_migration::prelude::*;

use crate::m20261128_000002_create_mfa_tables::time_col;

/// The hash chain of the audit trail: `chain_*` columns on `audit_events` (each event's
/// writer chain, sequence number, previous hash, own hash and per-field tags; NULL for events
/// stored before this step or with the chain off), an index on (chain, sequence) for the
/// verifier, and the `audit_checkpoints` table of signed chain heads.
///
/// The chain columns are binary (`bytea` on PostgreSQL): the chain id 16 bytes, the hashes 32,
/// the field tags 20. (The first version of this step made them hex text;
/// `m20261205_000009_audit_chain_binary` converts such columns.)
///
/// Idempotent on every backend: columns, tables and indexes that exist are left alone.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ChainId,
    ChainSeq,
    ChainPrev,
    ChainHash,
    ChainFields,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Id,
    ChainId,
    ChainSeq,
    ChainHash,
    PreviousSeq,
    Purged,
    CreatedAt,
    KeyId,
    Signature,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = AuditEvents::Table.to_string();
        let columns = [
            ColumnDef::new(AuditEvents::ChainId).binary_len(16).null().to_owned(),
            ColumnDef::new(AuditEvents::ChainSeq).big_integer().null().to_owned(),
            ColumnDef::new(AuditEvents::ChainPrev).binary_len(32).null().to_owned(),
            ColumnDef::new(AuditEvents::ChainHash).binary_len(32).null().to_owned(),
            ColumnDef::new(AuditEvents::ChainFields).binary_len(20).null().to_owned(),
        ];
        // SQLite adds one column per statement.
        for mut column in columns {
            let name = column.get_column_name();
            if !manager.has_column(&table, &name).await? {
                manager
                    .alter_table(Table::alter().table(AuditEvents::Table).add_column(&mut column).to_owned())
                    .await?;
            }
        }
        crate::create_index_once(
            manager,
            AuditEvents::Table,
            Index::create()
                .name("idx_audit_events_chain")
                .col(AuditEvents::ChainId)
                .col(AuditEvents::ChainSeq)
                .to_owned(),
        )
        .await?;

        let mut create = Table::create();
        if let Some(collation) = crate::m20261128_000001_create_audit_events::exact_collation(manager).await? {
            create.character_set("utf8mb4").collate(collation);
        }
        manager
            .create_table(
                create
                    .table(AuditCheckpoints::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AuditCheckpoints::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(AuditCheckpoints::ChainId).string_len(36).not_null())
                    .col(ColumnDef::new(AuditCheckpoints::ChainSeq).big_integer().not_null())
                    .col(ColumnDef::new(AuditCheckpoints::ChainHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditCheckpoints::PreviousSeq).big_integer().not_null())
                    .col(ColumnDef::new(AuditCheckpoints::Purged).boolean().not_null().default(false))
                    .col(time_col(manager, AuditCheckpoints::CreatedAt).not_null())
                    .col(ColumnDef::new(AuditCheckpoints::KeyId).string_len(16).null())
                    .col(ColumnDef::new(AuditCheckpoints::Signature).string_len(128).null())
                    .to_owned(),
            )
            .await?;
        crate::create_index_once(
            manager,
            AuditCheckpoints::Table,
            Index::create()
                .name("idx_audit_checkpoints_chain")
                .col(AuditCheckpoints::ChainId)
                .col(AuditCheckpoints::ChainSeq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditCheckpoints::Table).if_exists().to_owned()).await?;
        crate::drop_index_if_exists(manager, AuditEvents::Table, "idx_audit_events_chain").await?;
        let table = AuditEvents::Table.to_string();
        for column in [
            AuditEvents::ChainFields,
            AuditEvents::ChainHash,
            AuditEvents::ChainPrev,
            AuditEvents::ChainSeq,
            AuditEvents::ChainId,
        ] {
            if manager.has_table(&table).await? && manager.has_column(&table, &column.to_string()).await? {
                manager.alter_table(Table::alter().table(AuditEvents::Table).drop_column(column).to_owned()).await?;
            }
        }
        Ok(())
    }
}
