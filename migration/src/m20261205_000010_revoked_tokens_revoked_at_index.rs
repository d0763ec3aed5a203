use sea_orm_migration::prelude::*;

/// An index on `revoked_tokens.revoked_at`. Every instance's revocation sync polls the table
/// four times a second for the rows revoked since its last read (less a clock margin); without
/// this index that poll read every unexpired revocation (the `expires_at` index's range), which
/// grows with a mass sign-out and is repeated by every instance.
///
/// Idempotent: the index is created unless it exists.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    RevokedAt,
}

const INDEX: &str = "idx_revoked_tokens_revoked";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::create_index_once(
            manager,
            RevokedTokens::Table,
            Index::create().name(INDEX).col(RevokedTokens::RevokedAt).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_index_if_exists(manager, RevokedTokens::Table, INDEX).await
    }
}
