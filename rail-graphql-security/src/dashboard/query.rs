//! The dashboard's queries besides the security report: all aggregates or `LIMIT`ed, served by
//! the `audit_events` indexes ((type, time), (time, type)) and the MFA tables' `user_id` indexes.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::period::Period;
use crate::audit::entity::{Column, Entity};
use crate::audit::{AuditSeverity, IpCount, TOP_N};

/// How many second-factor users there are, and with which methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaAdoption {
    /// Users with at least one active, confirmed second factor.
    pub users_enrolled: u64,
    /// Users per method (`totp`, `sms`, `backup_codes`), most first; a user with two methods
    /// counts once under each.
    pub by_method: Vec<MethodCount>,
}

/// Users enrolled with one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodCount {
    /// The `mfa_devices.device_type`.
    pub method: String,
    /// Distinct users with an active, confirmed device of that type.
    pub users: u64,
}

/// Second-factor adoption from the `mfa_devices` table: two `COUNT(DISTINCT user_id)` queries.
pub async fn mfa_adoption<C: ConnectionTrait>(db: &C) -> Result<MfaAdoption, DbErr> {
    let n = Alias::new;
    let active = || {
        Query::select()
            .from(n("mfa_devices"))
            .and_where(Expr::col(n("is_active")).eq(true))
            .and_where(Expr::col(n("confirmed")).eq(true))
            .to_owned()
    };
    let users_enrolled = db
        .query_one(active().expr_as(Expr::cust("COUNT(DISTINCT user_id)"), n("n")))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let rows = db
        .query_all(
            active()
                .column(n("device_type"))
                .expr_as(Expr::cust("COUNT(DISTINCT user_id)"), n("n"))
                .group_by_col(n("device_type"))
                .order_by_expr(Expr::cust("COUNT(DISTINCT user_id)"), Order::Desc)
                .order_by(n("device_type"), Order::Asc),
        )
        .await?;
    let by_method = rows
        .iter()
        .map(|row| {
            Ok(MethodCount { method: row.try_get("", "device_type")?, users: row.try_get::<i64>("", "n")? as u64 })
        })
        .collect::<Result<_, DbErr>>()?;
    Ok(MfaAdoption { users_enrolled: users_enrolled as u64, by_method })
}

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
