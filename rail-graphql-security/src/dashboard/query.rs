//! The dashboard's queries besides the security report and the MFA adoption figures
//! ([`crate::mfa::adoption`]): all aggregates or `LIMIT`ed, served by the `audit_events` indexes
//! ((type, time), (time, type)).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::period::Period;
use crate::audit::entity::{Column, Entity};
use crate::audit::{AuditSeverity, IpCount, TOP_N};

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
/// address), like the report's top failing addresses.
pub(crate) async fn top_addresses<C: ConnectionTrait>(
    db: &C,
    period: &Period,
    event_type: &str,
) -> Result<Vec<IpCount>, DbErr> {
    let rows: Vec<(String, i64)> = Entity::find()
        .select_only()
        .column(Column::ClientIp)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(Column::Timestamp.gte(period.start))
        .filter(Column::Timestamp.lt(period.end))
        .filter(Column::EventType.eq(event_type))
        .filter(Column::ClientIp.is_not_null())
        .group_by(Column::ClientIp)
        .order_by(Expr::cust("COUNT(*)"), Order::Desc)
        .order_by_asc(Column::ClientIp)
        .limit(TOP_N)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(ip, n)| IpCount { ip, count: n as u64 }).collect())
}
