//! Shared helpers of the `http_*` tests.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different subset")]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rail_graphql_security::audit::{AuditEvent, AuditLogger, AuditSink, SinkError};

/// Keeps every event the logger writes.
#[derive(Debug, Clone, Default)]
pub struct CaptureSink(pub Arc<Mutex<Vec<AuditEvent>>>);

#[async_trait]
impl AuditSink for CaptureSink {
    fn name(&self) -> &str {
        "capture"
    }
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

impl CaptureSink {
    /// The events written so far, after flushing `logger`.
    pub async fn events(&self, logger: &AuditLogger) -> Vec<AuditEvent> {
        logger.flush().await.expect("flush");
        self.0.lock().unwrap().clone()
    }

    /// The events of one type, after flushing `logger`.
    pub async fn of_type(&self, logger: &AuditLogger, event_type: &str) -> Vec<AuditEvent> {
        self.events(logger).await.into_iter().filter(|e| e.event_type.as_str() == event_type).collect()
    }
}

/// A logger writing to a fresh capture sink.
pub fn capturing_logger() -> (AuditLogger, CaptureSink) {
    let sink = CaptureSink::default();
    (AuditLogger::builder().sink(sink.clone()).build(), sink)
}

/// The Redis URL for tests, or `None` (with a note) when unset and backends are not required.
pub fn redis_url() -> Option<String> {
    match std::env::var("RAIL_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            if std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("RAIL_TEST_REDIS_URL is not set but RAIL_TEST_REQUIRE_BACKENDS=1: point it at a running Redis");
            }
            eprintln!("note: Redis test SKIPPED: set RAIL_TEST_REDIS_URL to run it");
            None
        }
    }
}

/// A key prefix of its own for one test.
pub fn unique_prefix() -> String {
    format!("rail_t_{}", uuid::Uuid::new_v4().simple())
}
