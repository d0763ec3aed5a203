//! The slow-operation warning, captured from `tracing` (its own test binary: a `tracing`
//! callsite's interest is global, so tests hitting it from other threads would race).

use std::time::Duration;

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use integration_tests::CapturedLog;
use rail_graphql_security::context::{Principal, SecurityContext};
use rail_graphql_security::graphql::SlowQueryLog;

struct Query;

#[Object]
impl Query {
    async fn hello(&self) -> &str {
        "world"
    }
    async fn slow(&self, #[graphql(default)] _note: String) -> bool {
        tokio::time::sleep(Duration::from_millis(80)).await;
        true
    }
}

#[tokio::test]
async fn the_slow_operation_warning_names_the_operation_and_user_but_not_the_query_text() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let slow = SlowQueryLog::new(Duration::from_millis(40));
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription).extension(slow.clone()).finish();
    let context = SecurityContext::authenticated(Principal::new(77, "carol")).with_request_id(Some("req-slow".into()));
    let query = r#"query Sluggish { slow(note: "sk_live_secret_in_query") hello }"#;
    let response = schema.execute(async_graphql::Request::new(query).data(context)).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let fast = schema.execute(async_graphql::Request::new("query Quick { hello }")).await;
    assert!(fast.errors.is_empty());

    let log = captured.text();
    assert_eq!(log.matches("slow GraphQL operation").count(), 1, "{log}");
    assert!(log.contains("WARN"), "{log}");
    for expected in ["operation=\"Sluggish\"", "user_id=\"77\"", "request_id=\"req-slow\"", "threshold_ms=40"] {
        assert!(log.contains(expected), "{expected} missing in {log}");
    }
    assert!(!log.contains("Quick"), "{log}");
    assert!(!log.contains("sk_live_secret_in_query"), "{log}");
    assert_eq!(slow.slow_operations(), 1);
}
