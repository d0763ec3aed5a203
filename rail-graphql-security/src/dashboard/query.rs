//! The dashboard's queries besides the security report and the MFA adoption figures
//! ([`crate::mfa::adoption`]): `LIMIT`ed reads served by the `audit_events` indexes ((type,
//! time), (time, type)), and aggregates over the hourly rollup ([`crate::audit::rollup`]).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::period::Period;
use crate::audit::entity::{Column, Entity};
use crate::audit::{AuditSeverity, IpCount, TOP_N, dead_letter, rollup};

/// One event of the "recent events" table, as stored (text columns, shown escaped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentEvent {
    /// When.
    pub timestamp: DateTime<Utc>,
    /// The type name.
    pub event_type: String,
    /// The severity name.
    pub severity: String,
    /// The actor name snapshot (or the name tried).
    pub actor_name: Option<String>,
    /// The client address.
    pub client_ip: Option<String>,
    /// The user agent.
    pub user_agent: Option<String>,
    /// The (masked) details as compact JSON.
    pub details: String,
}

/// The latest `limit` events of the period with at least `min_severity`, of `event_type` when
/// given, newest first (one indexed, `LIMIT`ed query).
pub async fn recent_events<C: ConnectionTrait>(
    db: &C,
    period: &Period,
    min_severity: AuditSeverity,
    event_type: Option<&str>,
    limit: u64,
) -> Result<Vec<RecentEvent>, DbErr> {
    let severities = [AuditSeverity::Low, AuditSeverity::Medium, AuditSeverity::High, AuditSeverity::Critical]
        .into_iter()
        .filter(|s| *s >= min_severity)
        .map(AuditSeverity::as_str);
    let mut query = Entity::find()
        .filter(Column::Timestamp.gte(period.start))
        .filter(Column::Timestamp.lt(period.end))
        .filter(Column::Severity.is_in(severities));
    if let Some(event_type) = event_type {
        query = query.filter(Column::EventType.eq(event_type));
    }
    let rows = query.order_by_desc(Column::Timestamp).order_by_desc(Column::Id).limit(limit).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|m| RecentEvent {
            timestamp: m.timestamp,
            event_type: m.event_type,
            severity: m.severity,
            actor_name: m.actor_name,
            client_ip: m.client_ip,
            user_agent: m.user_agent,
            details: m.details.to_string(),
        })
        .collect())
}

/// The addresses with the most events of `event_type` in the period (most first, ties by
/// address), like the report's top failing addresses: from the hourly rollup for the whole hours
/// when it counts addresses for that type.
pub(crate) async fn top_addresses<C: ConnectionTrait>(
    db: &C,
    period: &Period,
    event_type: &str,
) -> Result<Vec<IpCount>, DbErr> {
    let rows =
        rollup::top_values(db, period.start, period.end, rollup::RankedColumn::ClientIp, event_type, TOP_N).await?;
    Ok(rows.into_iter().map(|(ip, count)| IpCount { ip, count }).collect())
}

/// How many dead letters there are (events a sink refused for good, see
/// [`dead_letter`](crate::audit::dead_letter)), and the newest `limit` (UUIDv7 ids: the primary
/// key is their order).
pub(crate) async fn dead_letters<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<(u64, Vec<dead_letter::Model>), DbErr> {
    let total = dead_letter::Entity::find().count(db).await?;
    let newest = dead_letter::Entity::find().order_by_desc(dead_letter::Column::Id).limit(limit).all(db).await?;
    Ok((total, newest))
}
