use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// Converts the `chain_*` columns of `audit_events` that the first version of
/// `m20261204_000008_audit_chain` made hex text (36-character chain id, 64-digit hashes,
/// 40-digit field tags) into the binary form that step now creates: half the bytes per row,
/// which is most of what the chain costs at ingest. Every stored link keeps its value.
///
/// - PostgreSQL: `ALTER COLUMN … TYPE bytea USING decode(…)` (one statement, one rewrite).
/// - MySQL/MariaDB: the columns become `VARBINARY` (same bytes), `UNHEX` in place in batches
///   of [`MYSQL_ROWS_PER_UPDATE`] rows, then `BINARY(16/32/20)`. A run that stopped part way
///   (MySQL cannot roll back an `ALTER`) is taken up where it stopped by the next one.
/// - SQLite cannot change a column's declared type: the values become blobs in place
///   (`unhex`, SQLite 3.41 or later), which the text-declared columns hold as they are.
///
/// Idempotent: columns that are binary already (a database created by the current step 8, or a
/// second run) are left alone.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Rows converted per `UPDATE` on MySQL/MariaDB.
const MYSQL_ROWS_PER_UPDATE: u32 = 10_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if !manager.has_column("audit_events", "chain_hash").await? {
            return Ok(());
        }
        match backend {
            DatabaseBackend::Postgres => {
                if column_type(db, backend, "current_schema()").await?.as_deref() != Some("character varying") {
                    return Ok(());
                }
                db.execute_unprepared(
                    "ALTER TABLE audit_events \
                     ALTER COLUMN chain_id TYPE bytea USING decode(replace(chain_id, '-', ''), 'hex'), \
                     ALTER COLUMN chain_prev TYPE bytea USING decode(chain_prev, 'hex'), \
                     ALTER COLUMN chain_hash TYPE bytea USING decode(chain_hash, 'hex'), \
                     ALTER COLUMN chain_fields TYPE bytea USING decode(chain_fields, 'hex')",
                )
                .await?;
            }
            DatabaseBackend::MySql => {
                match column_type(db, backend, "DATABASE()").await?.as_deref() {
                    Some("varchar") => {
                        db.execute_unprepared(
                            "ALTER TABLE audit_events MODIFY chain_id VARBINARY(36) NULL, \
                             MODIFY chain_prev VARBINARY(64) NULL, MODIFY chain_hash VARBINARY(64) NULL, \
                             MODIFY chain_fields VARBINARY(40) NULL",
                        )
                        .await?;
                    }
                    // An earlier run stopped after its first `ALTER`: it goes on from there.
                    Some("varbinary") => {}
                    _ => return Ok(()),
                }
                // In batches, so that no statement holds every row of a large table; a row is
                // converted whole (its four columns in one `UPDATE`) and once: a hex hash has
                // 64 bytes, a converted one 32.
                loop {
                    let converted = db
                        .execute_unprepared(&format!(
                            "UPDATE audit_events SET chain_id = UNHEX(REPLACE(chain_id, '-', '')), \
                             chain_prev = UNHEX(chain_prev), chain_hash = UNHEX(chain_hash), \
                             chain_fields = UNHEX(chain_fields) WHERE LENGTH(chain_hash) = 64 ORDER BY id \
                             LIMIT {MYSQL_ROWS_PER_UPDATE}"
                        ))
                        .await?;
                    if converted.rows_affected() == 0 {
                        break;
                    }
                }
                db.execute_unprepared(
                    "ALTER TABLE audit_events MODIFY chain_id BINARY(16) NULL, \
                     MODIFY chain_prev BINARY(32) NULL, MODIFY chain_hash BINARY(32) NULL, \
                     MODIFY chain_fields BINARY(20) NULL",
                )
                .await?;
            }
            DatabaseBackend::Sqlite => {
                db.execute_unprepared(
                    "UPDATE audit_events SET chain_id = unhex(replace(chain_id, '-', '')), \
                     chain_prev = unhex(chain_prev), chain_hash = unhex(chain_hash), \
                     chain_fields = unhex(chain_fields) WHERE typeof(chain_hash) = 'text'",
                )
                .await
                .map_err(|e| {
                    DbErr::Migration(format!(
                        "converting the audit chain columns to binary needs SQLite 3.41 or later \
                         (for `unhex`): {e}"
                    ))
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Nothing to undo: the text form is not written any more, and step 8's `down` drops the
    /// columns whatever their type.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// The data type `information_schema` gives `audit_events.chain_hash` in `schema`.
async fn column_type<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    schema: &str,
) -> Result<Option<String>, DbErr> {
    // PostgreSQL's `data_type` is a domain over `varchar`, which the driver reads only as text.
    let data_type = if backend == DatabaseBackend::Postgres { "data_type::text" } else { "data_type" };
    let sql = format!(
        "SELECT {data_type} FROM information_schema.columns \
         WHERE table_schema = {schema} AND table_name = 'audit_events' AND column_name = 'chain_hash'"
    );
    match db.query_one_raw(Statement::from_string(backend, sql)).await? {
        Some(row) => Ok(Some(row.try_get_by_index::<String>(0)?.trim().to_lowercase())),
        None => Ok(None),
    }
}
