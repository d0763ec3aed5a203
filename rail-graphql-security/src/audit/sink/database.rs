use async_trait::async_trait;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::{AuditSink, SinkError};
use crate::audit::entity;
use crate::audit::event::AuditEvent;

/// Rows per `INSERT`: 10 columns x 1000 rows stays under every backend's bind-parameter limit.
const ROWS_PER_INSERT: usize = 1000;

/// Writes events into the `audit_events` table with batched inserts.
///
/// The table comes from the `rail-graphql-security-migration` crate. Inserts skip ids that are
/// already stored, so a batch retried after an ambiguous failure (committed, but the
/// acknowledgement was lost) is not duplicated.
#[derive(Debug, Clone)]
pub struct DatabaseSink {
    db: DatabaseConnection,
}

impl DatabaseSink {
    /// A sink writing through `db` (SQLite, PostgreSQL or MySQL/MariaDB).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditSink for DatabaseSink {
    fn name(&self) -> &str {
        "database"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        for chunk in events.chunks(ROWS_PER_INSERT) {
            entity::Entity::insert_many(chunk.iter().map(entity::ActiveModel::from))
                .on_conflict_do_nothing_on([entity::Column::Id])
                .exec_without_returning(&self.db)
                .await?;
        }
        Ok(())
    }
}
