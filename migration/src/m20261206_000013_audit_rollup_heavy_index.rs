use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::audit_rollup::HEAVY_ROWS_INDEX;
use crate::m20261204_000007_create_audit_rollup_hourly::rollup_table;

/// The name the SQLite table is rebuilt under before it takes the rollup's name.
const REBUILT: &str = "audit_rollup_hourly_rebuilt";

/// Speeds up the top lists read from `audit_rollup_hourly`:
///
/// - SQLite: the table becomes `WITHOUT ROWID` (as step 7 now creates it), rebuilt with every
///   row copied, so a range of hours reads its counts in primary-key order without a lookup
///   per row;
/// - SQLite and PostgreSQL: a partial index of the rows that count more than one event
///   ([`HEAVY_ROWS_INDEX`]), through which a top list reads the values that recur within an hour
///   without the long tail of values seen once. MySQL/MariaDB have no partial indexes (and
///   InnoDB already stores rows in key order): nothing changes there, and the top lists read
///   every row of the period as before.
///
/// Runs in one transaction on every backend (SQLite's schema changes are transactional), and is
/// idempotent. `down` drops the index and keeps the table as it is (same columns and key).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let run = |sql: String| db.execute_raw(Statement::from_string(backend, sql));
        match backend {
            DatabaseBackend::MySql => return Ok(()),
            DatabaseBackend::Sqlite if !is_without_rowid(manager).await? => {
                manager.create_table(rollup_table(manager, Alias::new(REBUILT)).await?).await?;
                run(format!(
                    "INSERT INTO {REBUILT} (dim_kind, hour_start, event_type, severity, dim_value, event_count) \
                     SELECT dim_kind, hour_start, event_type, severity, dim_value, event_count FROM audit_rollup_hourly"
                ))
                .await?;
                run("DROP TABLE audit_rollup_hourly".to_owned()).await?;
                run(format!("ALTER TABLE {REBUILT} RENAME TO audit_rollup_hourly")).await?;
            }
            _ => {}
        }
        run(format!(
            "CREATE INDEX IF NOT EXISTS {HEAVY_ROWS_INDEX} ON audit_rollup_hourly \
             (dim_kind, event_type, hour_start, dim_value, event_count) WHERE event_count > 1"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        if backend == DatabaseBackend::MySql {
            return Ok(());
        }
        db.execute_raw(Statement::from_string(backend, format!("DROP INDEX IF EXISTS {HEAVY_ROWS_INDEX}"))).await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Whether SQLite's `audit_rollup_hourly` is a `WITHOUT ROWID` table.
async fn is_without_rowid(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let db = manager.get_connection();
    let sql = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_rollup_hourly'";
    let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await?;
    let definition: String = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => return Err(DbErr::Migration("audit_rollup_hourly is missing: run step 7 first".to_owned())),
    };
    Ok(definition.to_ascii_uppercase().contains("WITHOUT ROWID"))
}
