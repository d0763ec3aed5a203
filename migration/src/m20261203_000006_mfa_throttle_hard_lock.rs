use sea_orm_migration::prelude::*;

use crate::m20261128_000002_create_mfa_tables::time_col;
use crate::schema::MfaThrottle;

/// Adds to `mfa_throttle` the count of consecutive failed second-factor attempts that no
/// lockout window resets (`consecutive_failures`), and when that count locked the code factors
/// until a recovery (`hard_locked_at`). Before it, the count started again after each 15-minute
/// lockout, so guessing went on for ever at about 96 tries a day (NIST SP 800-63B §5.2.2 allows
/// at most 100 consecutive failures).
///
/// Idempotent on every backend: a column that exists is left alone, so the step can run under
/// two bookkeeping tables (see `create_index_once`).
#[derive(Debug, Clone, Copy, Default, DeriveMigrationName)]
pub struct AddMfaThrottleHardLock;

#[async_trait::async_trait]
impl MigrationTrait for AddMfaThrottleHardLock {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = MfaThrottle::Table.to_string();
        if !manager.has_column(&table, &MfaThrottle::ConsecutiveFailures.to_string()).await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(MfaThrottle::Table)
                        .add_column(ColumnDef::new(MfaThrottle::ConsecutiveFailures).integer().not_null().default(0))
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column(&table, &MfaThrottle::HardLockedAt.to_string()).await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(MfaThrottle::Table)
                        .add_column(time_col(manager, MfaThrottle::HardLockedAt).null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = MfaThrottle::Table.to_string();
        // SQLite drops one column per statement.
        for column in [MfaThrottle::HardLockedAt, MfaThrottle::ConsecutiveFailures] {
            if manager.has_table(&table).await? && manager.has_column(&table, &column.to_string()).await? {
                manager.alter_table(Table::alter().table(MfaThrottle::Table).drop_column(column).to_owned()).await?;
            }
        }
        Ok(())
    }
}
