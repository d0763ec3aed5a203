//! The security report: SQL aggregates over the hourly rollup of `audit_events` and the events
//! of the partial hours at the period's edges.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;

use super::event::AuditEventType;
use super::rollup;

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
    /// Those MFA events per second-factor method (`totp`, `sms`, `backup_code`, `passkey`, ...;
    /// events naming none are not counted here).
    pub mfa_events_by_method: BTreeMap<String, u64>,
    /// The MFA events of passkeys: registrations, removals, second factors and passwordless
    /// sign-ins passed, refusals.
    pub passkey_events: u64,
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

/// Builds the report for `[start, end)` from the hourly rollup (whole hours) and the events of
/// the partial hours at the edges ([`super::rollup`]): the counts per hour and type (summed into
/// the per-type counts), the top failing addresses and the most targeted accounts. The numbers
/// equal the same aggregates over `audit_events`.
pub(crate) async fn generate_security_report<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<SecurityReport, ReportError> {
    if end < start {
        return Err(ReportError::InvertedPeriod { start, end });
    }
    let failed = AuditEventType::LoginFailed.as_str();
    let top_failing_ips = rollup::top_values(db, start, end, rollup::RankedColumn::ClientIp, failed, TOP_N)
        .await?
        .into_iter()
        .map(|(ip, count)| IpCount { ip, count })
        .collect();
    let most_targeted_accounts = rollup::top_values(db, start, end, rollup::RankedColumn::ActorName, failed, TOP_N)
        .await?
        .into_iter()
        .map(|(account, count)| AccountCount { account, count })
        .collect();

    // The per-type counts are the per-hour ones summed: one pass over the period, not two.
    let mut events_by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut hours: BTreeMap<DateTime<Utc>, HourlyBucket> = BTreeMap::new();
    for (hour, event_type, n) in rollup::counts_per_hour_and_type(db, start, end).await? {
        let bucket = hours.entry(hour).or_insert_with(|| HourlyBucket {
            hour,
            failed_logins: 0,
            successful_logins: 0,
            total: 0,
        });
        bucket.total += n;
        if event_type == failed {
            bucket.failed_logins += n;
        } else if event_type == AuditEventType::LoginSuccess.as_str() {
            bucket.successful_logins += n;
        }
        *events_by_type.entry(event_type).or_insert(0) += n;
    }
    let count = |t: AuditEventType| events_by_type.get(t.as_str()).copied().unwrap_or(0);
    let mfa_events_by_method = rollup::mfa_events_per_method(db, start, end).await?;
    let passkey_events = mfa_events_by_method.get("passkey").copied().unwrap_or(0);

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
        mfa_events_by_method,
        passkey_events,
        unauthorized_access: count(AuditEventType::UnauthorizedAccess),
        security_score: security_score(failed_logins, suspicious_activities, rate_limit_hits),
        top_failing_ips,
        most_targeted_accounts,
        hourly: hours.into_values().collect(),
        events_by_type,
        flush_deadline_hit: false,
    })
}
