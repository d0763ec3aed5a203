//! The database server's clock: one clock for every instance that writes to the database, so a
//! drifted instance clock cannot hide what it writes from the others.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// The database's current time, to the microsecond. PostgreSQL: `CURRENT_TIMESTAMP` (a
/// transaction's start inside one); MySQL/MariaDB: `UTC_TIMESTAMP(6)` with plain arithmetic, so
/// no session time zone (nor its DST) enters; SQLite: `julianday('now')`, the clock of the
/// machine the file is on (every writer of one SQLite file shares it), to the millisecond.
pub(crate) async fn now(conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => "SELECT CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000000 AS BIGINT)",
        DatabaseBackend::MySql => "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))",
        _ => "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000",
    };
    let row = conn.query_one_raw(Statement::from_string(backend, sql)).await?;
    let micros: i64 =
        row.ok_or_else(|| DbErr::Custom("the database returned no time".to_owned()))?.try_get_by_index(0)?;
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| DbErr::Custom(format!("the database returned an impossible time ({micros} µs)")))
}
