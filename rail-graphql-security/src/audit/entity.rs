//! The SeaORM entity of the `audit_events` table (created by the `migration` crate).
//!
//! Query it like any entity for investigations; for aggregates use
//! [`AuditLogger::generate_security_report`](crate::audit::AuditLogger::generate_security_report).

use sea_orm::entity::prelude::*;

use super::event::{AuditEvent, AuditEventType};

/// One stored audit event.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// The event id (UUID text): the primary key, so a re-delivered batch inserts nothing twice.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// [`AuditEventType::as_str`].
    pub event_type: String,
    /// [`AuditSeverity::as_str`](crate::audit::AuditSeverity::as_str).
    pub severity: String,
    /// UTC timestamp.
    pub timestamp: DateTimeUtc,
    /// Actor id snapshot (no foreign key).
    pub actor_id: Option<String>,
    /// Actor name snapshot.
    pub actor_name: Option<String>,
    /// Client address, textual.
    pub client_ip: Option<String>,
    /// User agent.
    #[sea_orm(column_type = "Text")]
    pub user_agent: Option<String>,
    /// Request / correlation id.
    pub request_id: Option<String>,
    /// Masked, structured details.
    pub details: Json,
}

/// `audit_events` has no relations: actors are snapshots, not foreign keys.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&AuditEvent> for ActiveModel {
    fn from(e: &AuditEvent) -> Self {
        use sea_orm::ActiveValue::Set;
        ActiveModel {
            id: Set(e.id.to_string()),
            event_type: Set(e.event_type.as_str().to_owned()),
            severity: Set(e.severity.as_str().to_owned()),
            timestamp: Set(e.timestamp),
            actor_id: Set(e.actor_id.clone()),
            actor_name: Set(e.actor_name.clone()),
            client_ip: Set(e.client_ip.map(|ip| ip.to_string())),
            user_agent: Set(e.user_agent.clone()),
            request_id: Set(e.request_id.clone()),
            details: Set(e.details.clone()),
        }
    }
}

/// A stored row whose columns do not parse back into an [`AuditEvent`].
#[derive(Debug, thiserror::Error)]
#[error("audit row {id} has an invalid `{column}` column: {value:?}")]
pub struct InvalidRow {
    /// The row id.
    pub id: String,
    /// The offending column.
    pub column: &'static str,
    /// Its value.
    pub value: String,
}

impl TryFrom<Model> for AuditEvent {
    type Error = InvalidRow;

    fn try_from(m: Model) -> Result<Self, Self::Error> {
        let invalid = |column, value: &str| InvalidRow { id: m.id.clone(), column, value: value.to_owned() };
        let id = m.id.parse().map_err(|_| invalid("id", &m.id))?;
        let severity = m.severity.parse().map_err(|_| invalid("severity", &m.severity))?;
        let client_ip = match &m.client_ip {
            Some(ip) => Some(ip.parse().map_err(|_| invalid("client_ip", ip))?),
            None => None,
        };
        let event_type: AuditEventType = m.event_type.parse().unwrap_or_else(|never| match never {});
        Ok(AuditEvent {
            id,
            event_type,
            severity,
            timestamp: m.timestamp,
            actor_id: m.actor_id,
            actor_name: m.actor_name,
            client_ip,
            user_agent: m.user_agent,
            request_id: m.request_id,
            details: m.details,
        })
    }
}
