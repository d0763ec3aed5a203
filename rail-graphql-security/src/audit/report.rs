//! The security report: SQL aggregates over the indexed `audit_events` table.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{Column, Entity};
use super::event::AuditEventType;

/// How many rows the top-N lists hold (the ten with the most).
pub(crate) const TOP_N: u64 = 10;

/// A count for one client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpCount {
    /// The address.
    pub ip: String,
    /// How many events.
    pub count: u64,
}

/// A count for one account name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountCount {
    /// The account name (as tried, for failed logins).
    pub account: String,
    /// How many events.
    pub count: u64,
}

/// One hour of the report's time series (hours with no events are omitted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourlyBucket {
    /// The start of the hour, UTC.
    pub hour: DateTime<Utc>,
    /// `login_failed` events in that hour.
    pub failed_logins: u64,
    /// `login_success` events in that hour.
    pub successful_logins: u64,
    /// All events in that hour.
    pub total: u64,
}

/// The security report for a period, as the original package's `generate_security_report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityReport {
    /// Start of the period (inclusive).
    pub start: DateTime<Utc>,
    /// End of the period (exclusive).
    pub end: DateTime<Utc>,
    /// All events in the period.
    pub total_events: u64,
    /// `login_failed`.
    pub failed_logins: u64,
    /// `login_success`.
    pub successful_logins: u64,
    /// `suspicious_activity`.
    pub suspicious_activities: u64,
    /// `rate_limit_exceeded`.
    pub rate_limit_hits: u64,
    /// `mfa_enabled` + `mfa_disabled` + `mfa_success` + `mfa_failed`.
    pub mfa_events: u64,
    /// `unauthorized_access`.
    pub unauthorized_access: u64,
    /// Events per type name.
    pub events_by_type: BTreeMap<String, u64>,
    /// Addresses with the most failed logins, most first (ties by address).
    pub top_failing_ips: Vec<IpCount>,
    /// Account names with the most failed logins, most first (ties by name).
    pub most_targeted_accounts: Vec<AccountCount>,
    /// Per-hour counts, oldest first.
    pub hourly: Vec<HourlyBucket>,
    /// `100 − min(failed×0.1, 20) − min(suspicious×2, 30) − min(rate_limit_hits×0.05, 10)`,
    /// floored at 0.
    pub security_score: f64,
    /// `true` when [`AuditLogger::generate_security_report`](crate::audit::AuditLogger::generate_security_report)
    /// hit its flush deadline: events the logger had queued (a sink still retrying) may be
    /// missing from the counts. Always `false` in the dashboard's report, which only reads the
    /// table.
    pub flush_deadline_hit: bool,
}

/// A report query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The database failed; is the `audit_events` table migrated?
    #[error("security report query failed (has the rail-graphql-security migration run?): {0}")]
    Database(#[from] DbErr),
    /// `end` is before `start`.
    #[error("report period ends ({end}) before it starts ({start}); swap the two dates")]
    InvertedPeriod {
        /// The start given.
        start: DateTime<Utc>,
        /// The end given.
        end: DateTime<Utc>,
    },
}

/// The original package's score: 100 minus capped penalties, floored at 0.
///
/// ```
/// use rail_graphql_security::audit::security_score;
/// assert_eq!(security_score(0, 0, 0), 100.0);
/// assert_eq!(security_score(50, 3, 100), 100.0 - 5.0 - 6.0 - 5.0);
/// assert_eq!(security_score(10_000, 10_000, 10_000), 40.0);
/// ```
pub fn security_score(failed_logins: u64, suspicious_activities: u64, rate_limit_hits: u64) -> f64 {
    let score = 100.0
        - (failed_logins as f64 * 0.1).min(20.0)
        - (suspicious_activities as f64 * 2.0).min(30.0)
        - (rate_limit_hits as f64 * 0.05).min(10.0);
    score.max(0.0)
}

const COUNT: &str = "COUNT(*)";

/// Builds the report for `[start, end)` with three aggregate queries: per hour and type (summed
/// into the per-type counts), top failing addresses, most targeted accounts. The table's
/// (time, type) index covers the first, its (type, time) index serves the other two.
pub(crate) async fn generate_security_report<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<SecurityReport, ReportError> {
    if end < start {
        return Err(ReportError::InvertedPeriod { start, end });
    }
    let in_period = || Entity::find().filter(Column::Timestamp.gte(start)).filter(Column::Timestamp.lt(end));
    let failed = AuditEventType::LoginFailed.as_str();

    let top_failing_ips = in_period()
        .select_only()
        .column(Column::ClientIp)
        .column_as(Expr::cust(COUNT), "n")
        .filter(Column::EventType.eq(failed))
        .filter(Column::ClientIp.is_not_null())
        .group_by(Column::ClientIp)
        .order_by(Expr::cust(COUNT), Order::Desc)
        .order_by_asc(Column::ClientIp)
        .limit(TOP_N)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(ip, n)| IpCount { ip, count: n as u64 })
        .collect();

    let most_targeted_accounts = in_period()
        .select_only()
        .column(Column::ActorName)
        .column_as(Expr::cust(COUNT), "n")
        .filter(Column::EventType.eq(failed))
        .filter(Column::ActorName.is_not_null())
        .group_by(Column::ActorName)
        .order_by(Expr::cust(COUNT), Order::Desc)
        .order_by_asc(Column::ActorName)
        .limit(TOP_N)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(account, n)| AccountCount { account, count: n as u64 })
        .collect();

    let hour = hour_bucket_sql(db.get_database_backend());
    let per_hour: Vec<(String, String, i64)> = in_period()
        .select_only()
        .column_as(Expr::cust(hour), "hour")
        .column(Column::EventType)
        .column_as(Expr::cust(COUNT), "n")
        .group_by(Expr::cust(hour))
        .group_by(Column::EventType)
        .into_tuple()
        .all(db)
        .await?;
    // The per-type counts are the per-hour ones summed: one pass over the period, not two.
    let mut events_by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut hours: BTreeMap<String, HourlyBucket> = BTreeMap::new();
    for (label, event_type, n) in per_hour {
        let Ok(naive) = NaiveDateTime::parse_from_str(&label, "%Y-%m-%d %H:%M:%S") else {
            return Err(DbErr::Type(format!("unexpected hour bucket {label:?}")).into());
        };
        let bucket = hours.entry(label).or_insert_with(|| HourlyBucket {
            hour: naive.and_utc(),
            failed_logins: 0,
            successful_logins: 0,
            total: 0,
        });
        let n = n as u64;
        bucket.total += n;
        if event_type == failed {
            bucket.failed_logins += n;
        } else if event_type == AuditEventType::LoginSuccess.as_str() {
            bucket.successful_logins += n;
        }
        *events_by_type.entry(event_type).or_insert(0) += n;
    }
    let count = |t: AuditEventType| events_by_type.get(t.as_str()).copied().unwrap_or(0);

    let failed_logins = count(AuditEventType::LoginFailed);
    let suspicious_activities = count(AuditEventType::SuspiciousActivity);
    let rate_limit_hits = count(AuditEventType::RateLimitExceeded);
    Ok(SecurityReport {
        start,
        end,
        total_events: events_by_type.values().sum(),
        failed_logins,
        successful_logins: count(AuditEventType::LoginSuccess),
        suspicious_activities,
        rate_limit_hits,
        mfa_events: [
            AuditEventType::MfaEnabled,
            AuditEventType::MfaDisabled,
            AuditEventType::MfaSuccess,
            AuditEventType::MfaFailed,
        ]
        .into_iter()
        .map(count)
        .sum(),
        unauthorized_access: count(AuditEventType::UnauthorizedAccess),
        security_score: security_score(failed_logins, suspicious_activities, rate_limit_hits),
        top_failing_ips,
        most_targeted_accounts,
        hourly: hours.into_values().collect(),
        events_by_type,
        flush_deadline_hit: false,
    })
}

/// The start of an event's hour in UTC as `YYYY-MM-DD HH:00:00`, per backend.
fn hour_bucket_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            r#"to_char(date_trunc('hour', "timestamp" AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00:00')"#
        }
        DatabaseBackend::MySql => "DATE_FORMAT(`timestamp`, '%Y-%m-%d %H:00:00')",
        _ => r#"strftime('%Y-%m-%d %H:00:00', "timestamp")"#,
    }
}
