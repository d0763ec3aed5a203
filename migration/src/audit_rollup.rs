//! The hourly rollup of `audit_events` ([`AuditRollupHourly`]): what it counts, and the SQL that
//! recomputes it from the events, shared by the migration that creates the table (its backfill)
//! and the runtime's `rail_graphql_security::audit::rollup::rebuild`.
//!
//! Every row counts the events of one hour (`hour_start`, Unix seconds), type and severity;
//! `dim_kind = ''` rows count them all, the [`DIMENSIONS`] rows count them per value of one
//! column, for the event types the security report and dashboard rank by that column (top
//! failing addresses, most targeted accounts, rate-limit hits by address) and by second-factor
//! method (the `method` of the MFA events' details: passkey events).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use crate::schema::AuditRollupHourly;

/// A value of `audit_events` the rollup also counts per value, for some event types: a column,
/// or the `method` of the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupDimension {
    /// The `dim_kind` of its rows: the name of the `audit_events` column, or `method`.
    pub kind: &'static str,
    /// The event types counted per value (events without a value are not).
    pub event_types: &'static [&'static str],
}

impl RollupDimension {
    /// SQL for the dimension's value of an event row on `backend` (`NULL` when it has none): the
    /// column, or the details' `method` when it is a JSON string (what
    /// `details["method"].as_str()` reads).
    pub fn value_sql(&self, backend: DatabaseBackend) -> &'static str {
        match (self.kind, backend) {
            ("client_ip", _) => "client_ip",
            ("actor_name", _) => "actor_name",
            (_, DatabaseBackend::Postgres) => {
                "(CASE WHEN json_typeof(details::json -> 'method') = 'string' THEN details::json ->> 'method' END)"
            }
            (_, DatabaseBackend::MySql) => {
                "(CASE WHEN JSON_TYPE(JSON_EXTRACT(details, '$.method')) = 'STRING' \
                 THEN JSON_UNQUOTE(JSON_EXTRACT(details, '$.method')) END)"
            }
            _ => "(CASE WHEN json_type(details, '$.method') = 'text' THEN json_extract(details, '$.method') END)",
        }
    }
}

/// The `dim_kind` of the second-factor method of MFA events.
pub const METHOD_DIMENSION: &str = "method";

/// The `dim_kind` of the rows without a dimension.
pub const NO_DIMENSION: &str = "";

/// The partial index of the rows counting more than one event, `(dim_kind, event_type,
/// hour_start, dim_value, event_count) WHERE event_count > 1` (SQLite and PostgreSQL; MySQL and
/// MariaDB have no partial indexes): a top list reads the values that recur within an hour
/// through it, without the values seen once.
pub const HEAVY_ROWS_INDEX: &str = "idx_audit_rollup_heavy";

/// The second-factor method of MFA events (the security report's passkey figures).
pub const MFA_METHOD: RollupDimension = RollupDimension {
    kind: METHOD_DIMENSION,
    event_types: &["mfa_enabled", "mfa_disabled", "mfa_success", "mfa_failed"],
};

/// The dimensions the rollup keeps: the client address of failed logins and rate-limit hits,
/// the account name of failed logins, the second-factor method of MFA events.
pub const DIMENSIONS: [RollupDimension; 3] = [
    RollupDimension { kind: "client_ip", event_types: &["login_failed", "rate_limit_exceeded"] },
    RollupDimension { kind: "actor_name", event_types: &["login_failed"] },
    MFA_METHOD,
];

/// The `dim_kind` of `audit_events` column `column` for events of `event_type`, if the rollup
/// counts that column for that type.
pub fn dimension_for(column: &str, event_type: &str) -> Option<&'static RollupDimension> {
    DIMENSIONS.iter().find(|d| d.kind == column && d.event_types.contains(&event_type))
}

/// `audit_events`' `timestamp` column, quoted for `backend`.
pub fn timestamp_column(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::MySql => "`timestamp`",
        _ => r#""timestamp""#,
    }
}

/// SQL for the start of an event's hour in Unix seconds (the rollup's `hour_start`), per backend.
/// It must agree with the runtime's `timestamp.div_euclid(3600) * 3600` for every stored time;
/// the rollup tests compare the two.
pub fn hour_start_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => r#"(CAST(FLOOR(EXTRACT(EPOCH FROM "timestamp") / 3600) AS BIGINT) * 3600)"#,
        // Arithmetic on the stored UTC value: no session time zone involved.
        DatabaseBackend::MySql => "(TIMESTAMPDIFF(HOUR, CAST('1970-01-01' AS DATETIME), `timestamp`) * 3600)",
        _ => r#"(CAST(strftime('%s', "timestamp") AS INTEGER) / 3600 * 3600)"#,
    }
}

/// SQL for the instant of a bound parameter given in Unix seconds, comparable with `timestamp`
/// (on SQLite, text in the format SeaORM stores).
fn instant_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "to_timestamp(?)",
        DatabaseBackend::MySql => "TIMESTAMPADD(SECOND, ?, CAST('1970-01-01' AS DATETIME))",
        _ => "strftime('%Y-%m-%dT%H:%M:%S+00:00', ?, 'unixepoch')",
    }
}

/// `sql` with its `?` placeholders numbered `$1`, `$2`… on PostgreSQL.
pub fn placeholders(backend: DatabaseBackend, sql: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `SELECT`s that count `audit_events` into rollup rows, one per kind of row, each giving
/// `dim_kind, hour_start, event_type, severity, dim_value, event_count`; `condition` is added to
/// their `WHERE` (`""`, or ` AND …`). What [`rebuild_audit_rollup`] inserts, and what a check
/// of the rollup compares it with.
pub fn rollup_selects(backend: DatabaseBackend, condition: &str) -> Vec<String> {
    let hour = hour_start_sql(backend);
    let mut selects = vec![format!(
        "SELECT '{NO_DIMENSION}', {hour}, event_type, severity, '', COUNT(*) FROM audit_events \
         WHERE 1 = 1{condition} GROUP BY {hour}, event_type, severity"
    )];
    for dim in DIMENSIONS {
        let types = dim.event_types.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        let (kind, value) = (dim.kind, dim.value_sql(backend));
        selects.push(format!(
            "SELECT '{kind}', {hour}, event_type, severity, {value}, COUNT(*) FROM audit_events \
             WHERE event_type IN ({types}) AND {value} IS NOT NULL{condition} \
             GROUP BY {hour}, event_type, severity, {value}"
        ));
    }
    selects
}

/// Recomputes the rollup rows of the hours `[from, to)` (Unix seconds, whole hours), or of every
/// hour with `None`, from `audit_events`: deletes them, then counts the events again with one
/// `INSERT … SELECT … GROUP BY` per kind of row. Idempotent. Run it inside a transaction so
/// readers never see the hours empty, and while no sink writes events of those hours.
pub async fn rebuild_audit_rollup<C: ConnectionTrait>(db: &C, hours: Option<(i64, i64)>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let table = AuditRollupHourly::Table.to_string();
    let ts = timestamp_column(backend);
    let bounds: Vec<Value> = hours.map(|(from, to)| vec![from.into(), to.into()]).unwrap_or_default();

    let delete = match hours {
        Some(_) => format!("DELETE FROM {table} WHERE hour_start >= ? AND hour_start < ?"),
        None => format!("DELETE FROM {table}"),
    };
    db.execute_raw(Statement::from_sql_and_values(backend, placeholders(backend, &delete), bounds.clone())).await?;

    let in_hours = match hours {
        Some(_) => format!(" AND {ts} >= {instant} AND {ts} < {instant}", instant = instant_sql(backend)),
        None => String::new(),
    };
    let columns = "dim_kind, hour_start, event_type, severity, dim_value, event_count";
    for select in rollup_selects(backend, &in_hours) {
        let sql = placeholders(backend, &format!("INSERT INTO {table} ({columns}) {select}"));
        db.execute_raw(Statement::from_sql_and_values(backend, sql, bounds.clone())).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_on_postgres_only() {
        assert_eq!(placeholders(DatabaseBackend::Postgres, "a = ? AND b < ?"), "a = $1 AND b < $2");
        assert_eq!(placeholders(DatabaseBackend::MySql, "a = ? AND b < ?"), "a = ? AND b < ?");
    }

    #[test]
    fn dimensions_are_the_ranked_columns() {
        assert_eq!(dimension_for("client_ip", "login_failed").map(|d| d.kind), Some("client_ip"));
        assert_eq!(dimension_for("client_ip", "rate_limit_exceeded").map(|d| d.kind), Some("client_ip"));
        assert_eq!(dimension_for("actor_name", "rate_limit_exceeded"), None);
        assert_eq!(dimension_for("user_agent", "login_failed"), None);
    }
}
