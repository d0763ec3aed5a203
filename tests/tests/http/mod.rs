//! Shared helpers of the `http_*` tests.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different subset")]

use rail_graphql_security::audit::AuditLogger;

pub use rail_graphql_security::audit::MemorySink;

/// A logger writing to a fresh capture sink.
pub fn capturing_logger() -> (AuditLogger, MemorySink) {
    let sink = MemorySink::default();
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
