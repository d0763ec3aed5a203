use sea_orm_migration::prelude::*;

/// Creates `revoked_tokens`: the ids (`jti`) of bearer tokens revoked before they expire, shared
/// by every instance, and an index on `expires_at` for purging rows that no longer matter.
///
/// `user_id` is plain text, not a foreign key: any primary-key type fits and revocations of a
/// deleted user's tokens stay valid.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    Jti,
    UserId,
    ExpiresAt,
    RevokedAt,
}

fn timestamp(manager: &SchemaManager<'_>, column: RevokedTokens) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    match manager.get_database_backend() {
        // MySQL's TIMESTAMP ends in 2038; DATETIME(6) stores UTC as given.
        sea_orm::DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    def.not_null();
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RevokedTokens::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(RevokedTokens::Jti).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(RevokedTokens::UserId).string_len(191).not_null())
                    .col(timestamp(manager, RevokedTokens::ExpiresAt))
                    .col(timestamp(manager, RevokedTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        crate::create_index_once(
            manager,
            RevokedTokens::Table,
            Index::create().name("idx_revoked_tokens_expires").col(RevokedTokens::ExpiresAt).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RevokedTokens::Table).if_exists().to_owned()).await
    }
}
