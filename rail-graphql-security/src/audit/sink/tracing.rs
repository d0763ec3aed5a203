use async_trait::async_trait;

use super::{AuditSink, SinkError};
use crate::audit::event::{AuditEvent, AuditSeverity};

/// Emits each event as a structured `tracing` event (target `rail_graphql_security::audit`),
/// at `INFO` for low/medium and `WARN`/`ERROR` for high/critical.
///
/// The whole event is one JSON-encoded field, so a CR or LF in a user agent can never start a
/// forged log line, whatever formatter the subscriber uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

impl TracingSink {
    /// A new tracing sink.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl AuditSink for TracingSink {
    fn name(&self) -> &str {
        "tracing"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        for event in events {
            let json = serde_json::to_string(event)?;
            let (event_type, id) = (event.event_type.as_str(), event.id.to_string());
            macro_rules! emit {
                ($level:expr) => {
                    ::tracing::event!(
                        target: "rail_graphql_security::audit",
                        $level,
                        event_id = %id,
                        event_type,
                        severity = event.severity.as_str(),
                        audit_event = %json,
                        "audit event"
                    )
                };
            }
            match event.severity {
                AuditSeverity::Low | AuditSeverity::Medium => emit!(::tracing::Level::INFO),
                AuditSeverity::High => emit!(::tracing::Level::WARN),
                AuditSeverity::Critical => emit!(::tracing::Level::ERROR),
            }
        }
        Ok(())
    }
}
