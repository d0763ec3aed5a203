use sea_orm_migration::prelude::*;

use crate::m20261128_000002_create_mfa_tables::{CreateMfaTables, time_col};
use crate::schema::{MfaPasskeyCeremonies, MfaPasskeys};

/// Creates `mfa_passkeys` (a user's WebAuthn credentials) and `mfa_passkey_ceremonies` (the
/// state between a ceremony's begin and finish calls).
///
/// `mfa_passkeys.user_id` has the type, and the foreign key, of the other MFA tables: the step
/// is built from the same [`CreateMfaTables`] ([`CreateMfaTables::passkeys`]). A credential id
/// is unique across users through the SHA-256 of it (`credential_id_hash`): ids run to 1023
/// bytes, longer than MySQL indexes a text column.
///
/// Idempotent: tables and indexes are created unless they exist.
#[derive(Debug, Clone, Copy)]
pub struct CreateMfaPasskeyTables {
    mfa: CreateMfaTables,
}

impl CreateMfaTables {
    /// The step creating the passkey tables with this migration's `user_id` type and foreign
    /// key ([`Migrator::migrations_with_mfa`](crate::Migrator::migrations_with_mfa) lists it).
    pub fn passkeys(self) -> CreateMfaPasskeyTables {
        CreateMfaPasskeyTables { mfa: self }
    }
}

impl MigrationName for CreateMfaPasskeyTables {
    fn name(&self) -> &str {
        "m20261206_000011_create_mfa_passkeys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMfaPasskeyTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let m = manager;
        manager
            .create_table(
                self.mfa.with_user_fk(
                    Table::create()
                        .table(MfaPasskeys::Table)
                        .if_not_exists()
                        .col(ColumnDef::new(MfaPasskeys::Id).string_len(36).not_null().primary_key())
                        .col(self.mfa.user_id_col(MfaPasskeys::UserId))
                        .col(ColumnDef::new(MfaPasskeys::UserHandle).string_len(36).not_null())
                        .col(ColumnDef::new(MfaPasskeys::CredentialId).text().not_null())
                        .col(ColumnDef::new(MfaPasskeys::CredentialIdHash).string_len(64).not_null().unique_key())
                        .col(ColumnDef::new(MfaPasskeys::Credential).text().not_null())
                        .col(ColumnDef::new(MfaPasskeys::SignCount).big_integer().not_null().default(0))
                        .col(ColumnDef::new(MfaPasskeys::BackupEligible).boolean().not_null())
                        .col(ColumnDef::new(MfaPasskeys::BackupState).boolean().not_null())
                        .col(ColumnDef::new(MfaPasskeys::Transports).string_len(100).null())
                        .col(ColumnDef::new(MfaPasskeys::Aaguid).string_len(36).null())
                        .col(ColumnDef::new(MfaPasskeys::Name).string_len(100).not_null())
                        .col(time_col(m, MfaPasskeys::CreatedAt).not_null())
                        .col(time_col(m, MfaPasskeys::LastUsed).null())
                        .to_owned(),
                    (MfaPasskeys::Table, MfaPasskeys::UserId),
                    "fk_mfa_passkeys_user",
                ),
            )
            .await?;
        crate::create_index_once(
            manager,
            MfaPasskeys::Table,
            Index::create().name("idx_mfa_passkeys_user").col(MfaPasskeys::UserId).to_owned(),
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaPasskeyCeremonies::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(MfaPasskeyCeremonies::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(MfaPasskeyCeremonies::Kind).string_len(20).not_null())
                    .col(ColumnDef::new(MfaPasskeyCeremonies::UserKey).string_len(191).null())
                    .col(ColumnDef::new(MfaPasskeyCeremonies::State).text().not_null())
                    .col(time_col(m, MfaPasskeyCeremonies::ExpiresAt).not_null())
                    .to_owned(),
            )
            .await?;
        crate::create_index_once(
            manager,
            MfaPasskeyCeremonies::Table,
            Index::create().name("idx_mfa_passkey_ceremonies_expires").col(MfaPasskeyCeremonies::ExpiresAt).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [MfaPasskeyCeremonies::Table.into_iden(), MfaPasskeys::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
