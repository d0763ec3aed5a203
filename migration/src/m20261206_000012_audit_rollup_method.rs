use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::audit_rollup::METHOD_DIMENSION;

/// Counts the MFA events already stored per second-factor method in `audit_rollup_hourly` (the
/// `method` dimension the security report's passkey figures read): the rollup is recomputed from
/// `audit_events`, as step 7 first filled it.
///
/// Idempotent: a recomputation gives the same rows however often it runs.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::audit_rollup::rebuild_audit_rollup(manager.get_connection(), None).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = format!("DELETE FROM audit_rollup_hourly WHERE dim_kind = '{METHOD_DIMENSION}'");
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
        Ok(())
    }
}
