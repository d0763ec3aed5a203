//! The SeaORM entity of the `audit_events` table (created by the `migration` crate).
//!
//! Query it like any entity for investigations; for aggregates use
//! [`AuditLogger::generate_security_report`](crate::audit::AuditLogger::generate_security_report).

use sea_orm::entity::prelude::*;

use super::chain::{ChainColumns, ChainHash, ChainLink, FieldTags};
use super::event::{AuditEvent, AuditEventType, AuditSeverity};

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
    /// The writer's hash chain ([`ChainLink::chain`], its 16 bytes); NULL when the chain was
    /// off. Bytes rather than a `Uuid`, so a damaged value reads back and is reported as an
    /// invalid row instead of failing the whole query.
    #[sea_orm(column_type = "Binary(16)")]
    pub chain_id: Option<Vec<u8>>,
    /// [`ChainLink::seq`].
    pub chain_seq: Option<i64>,
    /// [`ChainLink::prev`], 32 bytes.
    #[sea_orm(column_type = "Binary(32)")]
    pub chain_prev: Option<Vec<u8>>,
    /// [`ChainLink::hash`], 32 bytes.
    #[sea_orm(column_type = "Binary(32)")]
    pub chain_hash: Option<Vec<u8>>,
    /// [`ChainLink::fields`], 20 bytes ([`FieldTags::to_bytes`]).
    #[sea_orm(column_type = "Binary(20)")]
    pub chain_fields: Option<Vec<u8>>,
}

/// `audit_events` has no relations: actors are snapshots, not foreign keys.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&AuditEvent> for ActiveModel {
    fn from(e: &AuditEvent) -> Self {
        use sea_orm::ActiveValue::Set;
        let link = ChainColumns::from(e.chain.as_ref());
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
            chain_id: Set(link.chain_id),
            chain_seq: Set(link.chain_seq),
            chain_prev: Set(link.chain_prev),
            chain_hash: Set(link.chain_hash),
            chain_fields: Set(link.chain_fields),
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

    /// Every text column must be exactly as the plugin writes it: a value that parses to the
    /// same event but reads differently (`High` for `high`, `0::1` for `::1`) hashes as the
    /// original, while reports, the rollup and the dashboard filter and group by the stored
    /// text. Found by an attack: such edits hid events from the dashboard's severity filter
    /// and split one address in "top failing addresses", and `audit verify` said intact.
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        let invalid = |column, value: &str| InvalidRow { id: m.id.clone(), column, value: value.to_owned() };
        let canonical = |column, stored: &str, written: String| {
            if stored == written { Ok(()) } else { Err(invalid(column, stored)) }
        };
        let id: Uuid = m.id.parse().map_err(|_| invalid("id", &m.id))?;
        canonical("id", &m.id, id.to_string())?;
        let severity: AuditSeverity = m.severity.parse().map_err(|_| invalid("severity", &m.severity))?;
        canonical("severity", &m.severity, severity.as_str().to_owned())?;
        let client_ip = match &m.client_ip {
            Some(ip) => {
                let parsed: std::net::IpAddr = ip.parse().map_err(|_| invalid("client_ip", ip))?;
                canonical("client_ip", ip, parsed.to_string())?;
                Some(parsed)
            }
            None => None,
        };
        let event_type: AuditEventType = m.event_type.parse().unwrap_or_else(|never| match never {});
        let chain = match (&m.chain_id, m.chain_seq, &m.chain_prev, &m.chain_hash, &m.chain_fields) {
            (None, None, None, None, None) => None,
            (Some(chain), Some(seq), Some(prev), Some(hash), Some(fields)) => Some(ChainLink {
                chain: Uuid::from_slice(chain).map_err(|_| invalid("chain_id", &hex::encode(chain)))?,
                seq: u64::try_from(seq).map_err(|_| invalid("chain_seq", &seq.to_string()))?,
                prev: ChainHash::from_slice(prev).ok_or_else(|| invalid("chain_prev", &hex::encode(prev)))?,
                hash: ChainHash::from_slice(hash).ok_or_else(|| invalid("chain_hash", &hex::encode(hash)))?,
                fields: FieldTags::from_bytes(fields).ok_or_else(|| invalid("chain_fields", &hex::encode(fields)))?,
            }),
            _ => return Err(invalid("chain_id", "some chain columns are NULL and others are not")),
        };
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
            chain,
        })
    }
}
