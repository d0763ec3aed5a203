use sea_orm_migration::prelude::*;

use crate::m20261128_000002_create_mfa_tables::time_col;
use crate::schema::MfaThrottle;

/// Adds to `mfa_throttle` the client addresses a user passed the second factor from
/// (`known_sources`) and a second set of failure counts for attempts from them (`known_*`).
/// Before it, anyone with the password could lock the user's second factor from anywhere:
/// wrong codes from an unknown address now lock unknown addresses only, so the user signing in
/// from an address they passed from before still can.
///
/// Idempotent on every backend: a column that exists is left alone, so the step can run under
/// two bookkeeping tables (see `create_index_once`).
#[derive(Debug, Clone, Copy, Default, DeriveMigrationName)]
pub struct AddMfaThrottleKnownSources;

/// The step's columns, in the order they are added (and dropped in reverse).
const COLUMNS: [MfaThrottle; 5] = [
    MfaThrottle::KnownSources,
    MfaThrottle::KnownFailedAttempts,
    MfaThrottle::KnownLockedUntil,
    MfaThrottle::KnownConsecutiveFailures,
    MfaThrottle::KnownHardLockedAt,
];

#[async_trait::async_trait]
impl MigrationTrait for AddMfaThrottleKnownSources {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = MfaThrottle::Table.to_string();
        // SQLite adds one column per statement.
        for column in COLUMNS {
            if manager.has_column(&table, &column.to_string()).await? {
                continue;
            }
            let mut definition = match column {
                MfaThrottle::KnownSources => ColumnDef::new(column).text().null().to_owned(),
                MfaThrottle::KnownFailedAttempts | MfaThrottle::KnownConsecutiveFailures => {
                    ColumnDef::new(column).integer().not_null().default(0).to_owned()
                }
                _ => time_col(manager, column).null().to_owned(),
            };
            manager
                .alter_table(Table::alter().table(MfaThrottle::Table).add_column(&mut definition).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = MfaThrottle::Table.to_string();
        for column in COLUMNS.into_iter().rev() {
            if manager.has_table(&table).await? && manager.has_column(&table, &column.to_string()).await? {
                manager.alter_table(Table::alter().table(MfaThrottle::Table).drop_column(column).to_owned()).await?;
            }
        }
        Ok(())
    }
}
