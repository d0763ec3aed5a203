use sea_orm_migration::prelude::*;

use crate::schema::{MfaBackupCodes, MfaDevices, MfaThrottle, TrustedDevices};

/// The SQL type of the `user_id` columns of the MFA tables: the type of the host application's
/// user primary key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MfaUserIdColumn {
    /// 32-bit integer ids (`i32`).
    Integer,
    /// 64-bit integer ids (`i64`), the default.
    #[default]
    BigInteger,
    /// UUIDs (`uuid` on PostgreSQL, `BINARY(16)` on MySQL/MariaDB, a blob on SQLite).
    Uuid,
    /// Text ids up to 191 characters (`String`).
    String,
}

/// Creates `mfa_devices`, `mfa_backup_codes`, `trusted_devices` and `mfa_throttle`.
///
/// `user_id` has the type of the application's user key ([`MfaUserIdColumn`]); it is a foreign
/// key to the user table when one is given with [`CreateMfaTables::references_user`] (what
/// `#[security_user]`'s `migration()` does), and a plain column otherwise. Secrets are stored encrypted (`secret_key`, `key_id`), codes and tokens only as
/// hashes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateMfaTables {
    user_id: MfaUserIdColumn,
    user_reference: Option<UserReference>,
}

/// What deleting a user does to the user's MFA rows, when the `user_id` columns are foreign keys
/// ([`CreateMfaTables::references_user`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnUserDelete {
    /// The user's devices, backup codes, trusted devices and throttle row are deleted with the
    /// user (`ON DELETE CASCADE`), the default.
    #[default]
    Cascade,
    /// Deleting a user who still has MFA rows fails (`ON DELETE RESTRICT`): call
    /// `MfaManager::disable_mfa` and delete the rows first.
    Restrict,
}

/// The user table the `user_id` columns reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserReference {
    table: &'static str,
    column: &'static str,
    on_delete: OnUserDelete,
}

impl CreateMfaTables {
    /// The migration with `user_id` columns of the given type.
    pub fn with_user_id(user_id: MfaUserIdColumn) -> Self {
        CreateMfaTables { user_id, user_reference: None }
    }

    /// Makes every `user_id` column a foreign key to `table`.`column` (the user table's primary
    /// key, which must exist when this migration runs: list your users migration first), with
    /// `on_delete` deciding what deleting a user does. `#[security_user]` sets this up for you.
    pub fn references_user(mut self, table: &'static str, column: &'static str, on_delete: OnUserDelete) -> Self {
        self.user_reference = Some(UserReference { table, column, on_delete });
        self
    }

    /// The foreign key of `table`.`user_id`, when one is configured.
    fn user_foreign_key(
        &self,
        table: impl IntoIden,
        user_id: impl IntoIden,
        fk_name: &str,
    ) -> Option<ForeignKeyCreateStatement> {
        let reference = self.user_reference?;
        let action = match reference.on_delete {
            OnUserDelete::Cascade => ForeignKeyAction::Cascade,
            OnUserDelete::Restrict => ForeignKeyAction::Restrict,
        };
        Some(
            ForeignKey::create()
                .name(fk_name)
                .from(table, user_id)
                .to(Alias::new(reference.table), Alias::new(reference.column))
                .on_delete(action)
                .on_update(ForeignKeyAction::Cascade)
                .to_owned(),
        )
    }

    pub(crate) fn with_user_fk(
        &self,
        mut table: TableCreateStatement,
        (name, user_id): (impl IntoIden, impl IntoIden),
        fk: &str,
    ) -> TableCreateStatement {
        if let Some(mut fk) = self.user_foreign_key(name, user_id, fk) {
            table.foreign_key(&mut fk);
        }
        table
    }
}

impl MigrationName for CreateMfaTables {
    fn name(&self) -> &str {
        "m20261128_000002_create_mfa_tables"
    }
}

impl CreateMfaTables {
    pub(crate) fn user_id_col(&self, iden: impl IntoIden) -> ColumnDef {
        let mut col = ColumnDef::new(iden);
        match self.user_id {
            MfaUserIdColumn::Integer => col.integer(),
            MfaUserIdColumn::BigInteger => col.big_integer(),
            MfaUserIdColumn::Uuid => col.uuid(),
            MfaUserIdColumn::String => col.string_len(191),
        };
        col.not_null().to_owned()
    }
}

pub(crate) fn time_col(manager: &SchemaManager<'_>, iden: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(iden);
    match manager.get_database_backend() {
        // MySQL's TIMESTAMP ends in 2038 and drops fractions; DATETIME(6) stores UTC as given.
        sea_orm::DatabaseBackend::MySql => col.custom(Alias::new("DATETIME(6)")),
        _ => col.timestamp_with_time_zone(),
    };
    col
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMfaTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let m = manager;
        manager
            .create_table(
                self.with_user_fk(
                    Table::create()
                        .table(MfaDevices::Table)
                        .if_not_exists()
                        .col(ColumnDef::new(MfaDevices::Id).string_len(36).not_null().primary_key())
                        .col(self.user_id_col(MfaDevices::UserId))
                        .col(ColumnDef::new(MfaDevices::DeviceType).string_len(20).not_null())
                        .col(ColumnDef::new(MfaDevices::Name).string_len(100).not_null())
                        .col(ColumnDef::new(MfaDevices::SecretKey).text().null())
                        .col(ColumnDef::new(MfaDevices::KeyId).string_len(64).null())
                        .col(ColumnDef::new(MfaDevices::PhoneNumber).string_len(20).null())
                        .col(ColumnDef::new(MfaDevices::IsActive).boolean().not_null())
                        .col(ColumnDef::new(MfaDevices::IsPrimary).boolean().not_null())
                        .col(ColumnDef::new(MfaDevices::Confirmed).boolean().not_null())
                        .col(ColumnDef::new(MfaDevices::LastTotpStep).big_integer().null())
                        .col(ColumnDef::new(MfaDevices::SmsCodeHash).string_len(128).null())
                        .col(time_col(m, MfaDevices::SmsCodeExpiresAt).null())
                        .col(time_col(m, MfaDevices::SmsCodeSentAt).null())
                        .col(ColumnDef::new(MfaDevices::SmsCodeAttempts).integer().not_null().default(0))
                        .col(time_col(m, MfaDevices::CreatedAt).not_null())
                        .col(time_col(m, MfaDevices::LastUsed).null())
                        .to_owned(),
                    (MfaDevices::Table, MfaDevices::UserId),
                    "fk_mfa_devices_user",
                ),
            )
            .await?;
        crate::create_index_once(
            manager,
            MfaDevices::Table,
            Index::create().name("idx_mfa_devices_user").col(MfaDevices::UserId).col(MfaDevices::DeviceType).to_owned(),
        )
        .await?;
        manager
            .create_table(
                self.with_user_fk(
                    Table::create()
                        .table(MfaBackupCodes::Table)
                        .if_not_exists()
                        .col(ColumnDef::new(MfaBackupCodes::Id).string_len(36).not_null().primary_key())
                        .col(self.user_id_col(MfaBackupCodes::UserId))
                        .col(ColumnDef::new(MfaBackupCodes::CodeHash).string_len(255).not_null())
                        .col(ColumnDef::new(MfaBackupCodes::IsUsed).boolean().not_null())
                        .col(time_col(m, MfaBackupCodes::CreatedAt).not_null())
                        .col(time_col(m, MfaBackupCodes::UsedAt).null())
                        .to_owned(),
                    (MfaBackupCodes::Table, MfaBackupCodes::UserId),
                    "fk_mfa_backup_codes_user",
                ),
            )
            .await?;
        crate::create_index_once(
            manager,
            MfaBackupCodes::Table,
            Index::create().name("idx_mfa_backup_codes_user").col(MfaBackupCodes::UserId).to_owned(),
        )
        .await?;
        manager
            .create_table(
                self.with_user_fk(
                    Table::create()
                        .table(TrustedDevices::Table)
                        .if_not_exists()
                        .col(ColumnDef::new(TrustedDevices::Id).string_len(36).not_null().primary_key())
                        .col(self.user_id_col(TrustedDevices::UserId))
                        .col(ColumnDef::new(TrustedDevices::TokenHash).string_len(64).not_null().unique_key())
                        .col(ColumnDef::new(TrustedDevices::DeviceName).string_len(100).not_null())
                        .col(ColumnDef::new(TrustedDevices::UserAgent).text().null())
                        .col(ColumnDef::new(TrustedDevices::IpAddress).string_len(45).null())
                        .col(time_col(m, TrustedDevices::CreatedAt).not_null())
                        .col(time_col(m, TrustedDevices::LastUsed).not_null())
                        .col(time_col(m, TrustedDevices::ExpiresAt).not_null())
                        .to_owned(),
                    (TrustedDevices::Table, TrustedDevices::UserId),
                    "fk_trusted_devices_user",
                ),
            )
            .await?;
        crate::create_index_once(
            manager,
            TrustedDevices::Table,
            Index::create().name("idx_trusted_devices_user").col(TrustedDevices::UserId).to_owned(),
        )
        .await?;
        manager
            .create_table(
                self.with_user_fk(
                    Table::create()
                        .table(MfaThrottle::Table)
                        .if_not_exists()
                        .col(self.user_id_col(MfaThrottle::UserId).primary_key())
                        .col(ColumnDef::new(MfaThrottle::FailedAttempts).integer().not_null())
                        .col(time_col(m, MfaThrottle::LockedUntil).null())
                        .col(time_col(m, MfaThrottle::UpdatedAt).not_null())
                        .to_owned(),
                    (MfaThrottle::Table, MfaThrottle::UserId),
                    "fk_mfa_throttle_user",
                ),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MfaThrottle::Table.into_iden(),
            TrustedDevices::Table.into_iden(),
            MfaBackupCodes::Table.into_iden(),
            MfaDevices::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
