//! The pipeline end to end on every backend: logged events land and the report counts them.

use chrono::{Duration, Utc};
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::audit::{Actor, AuditLogger};

async fn logged_events_are_reported(t: &TestDb) {
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    logger.log_authentication_failure("alice", "198.51.100.7".parse().ok(), Some("ua"), "bad password");
    logger.log_authentication_success(&Actor::new(1, "alice"), None, None, serde_json::json!({}));
    logger.flush().await.unwrap();
    let now = Utc::now();
    let report = logger.generate_security_report(now - Duration::hours(1), now + Duration::hours(1)).await.unwrap();
    assert_eq!(report.failed_logins, 1);
    assert_eq!(report.successful_logins, 1);
    assert_eq!(report.top_failing_ips[0].ip, "198.51.100.7");
    assert_eq!(report.hourly.iter().map(|h| h.total).sum::<u64>(), 2);
    logger.shutdown().await.unwrap();
}
on_every_backend!(logged_events_are_reported_smoke, logged_events_are_reported);
