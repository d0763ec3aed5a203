//! Issue 14, item 1: one anonymous request used to silence the audit log on PostgreSQL. A NUL
//! byte in a username (GraphQL `login` with `"\u0000"`, or the dashboard sign-in form with
//! `username=evil%00user`) made an event PostgreSQL refuses (`invalid byte sequence for encoding
//! "UTF8": 0x00`); the database sink retried that batch forever, so no later event was stored
//! and `securityReport` hung on its flush.
//!
//! Against the demo server over HTTP on PostgreSQL: after the NUL logins, a normal failed login
//! is stored, every NUL attempt is stored with U+FFFD in place of the NUL (or dead-lettered),
//! and the flush and `securityReport` answer.

mod e2e;

use std::time::Duration;

use e2e::{Server, count, error_code, test_config};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{dead_letter, entity as audit_entity};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

/// Turns a hang (what the unfixed pipeline did) into a failure. Not a timing assertion: the
/// logger's own flush deadline is 10 s, far below this.
const HANG_GUARD: Duration = Duration::from_secs(120);

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} never returned: the audit log hangs"))
}

/// `login_failed` rows for `actor_name`.
async fn failed_logins_of(t: &TestDb, actor_name: &str) -> usize {
    audit_entity::Entity::find()
        .filter(audit_entity::Column::EventType.eq("login_failed"))
        .filter(audit_entity::Column::ActorName.eq(actor_name))
        .all(&t.db)
        .await
        .expect("read audit_events")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_usernames_do_not_silence_the_audit_log_on_postgres() {
    let Some(t) = TestDb::new(Backend::Postgres).await else { return };
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;

    // Six GraphQL logins with a NUL in the username: three refused as invalid, then the
    // per-username limit (3 in the test config) refuses the rest, audited once.
    for _ in 0..6 {
        let body = server.login_raw("nul\u{0}user", "x", None).await;
        let code = error_code(&body);
        assert!(matches!(code, Some("INVALID_CREDENTIALS" | "RATE_LIMITED")), "{body}");
    }
    // The dashboard's sign-in form, NUL percent-encoded as a browser or curl sends it.
    let origin = server.url.trim_end_matches("/graphql").to_owned();
    let response = reqwest::Client::new()
        .post(format!("{origin}/security/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &origin)
        .body("username=evil%00user&password=x")
        .send()
        .await
        .expect("the dashboard answers");
    assert!(response.status().is_client_error() || response.status().is_success(), "{}", response.status());

    // A normal failed login afterwards.
    let wrong = server.login_raw("demo", "not-the-password", None).await;
    assert_eq!(error_code(&wrong), Some("INVALID_CREDENTIALS"), "{wrong}");

    guarded("flush", server.demo.logger.flush()).await.expect("the flush completes: nothing is stuck");

    // The later event is stored: the log was not silenced.
    assert_eq!(failed_logins_of(&t, "demo").await, 1, "the login after the attack is stored");
    // Each NUL attempt is stored, NUL replaced by U+FFFD, or dead-lettered: none is lost.
    let dead_letters = dead_letter::Entity::find().all(&t.db).await.expect("read audit_dead_letters");
    let stored_graphql = failed_logins_of(&t, "nul\u{FFFD}user").await;
    let stored_dashboard = failed_logins_of(&t, "evil\u{FFFD}user").await;
    assert_eq!(stored_graphql + stored_dashboard + dead_letters.len(), 4, "3 GraphQL + 1 dashboard failures");
    assert_eq!((stored_graphql, stored_dashboard), (3, 1), "sanitised, they are storable: {dead_letters:?}");
    let rate_limited = audit_entity::Entity::find()
        .filter(audit_entity::Column::EventType.eq("rate_limit_exceeded"))
        .all(&t.db)
        .await
        .expect("read audit_events");
    assert_eq!(rate_limited.len(), 1, "the refused 4th-6th attempts are audited once");
    let stats = server.demo.logger.stats();
    assert_eq!((stats.dropped, stats.lost, stats.dead_lettered), (0, 0, 0), "{stats:?}");
    assert!(stats.sanitized >= 4, "the NUL events were made storable: {stats:?}");

    // The report answers (its flush has a deadline) and counts the attack.
    // securityReport needs an admin who passed a second factor.
    let admin = server.admin_with_totp().await.token;
    let report = guarded("securityReport", async {
        server.gql(Some(&admin), "{ securityReport { failedLogins rateLimitHits flushDeadlineHit } }", json!({})).await
    })
    .await;
    assert!(report["errors"].is_null(), "{report}");
    let report = &report["data"]["securityReport"];
    assert_eq!(count(report, "failedLogins"), 5, "{report}");
    assert_eq!(count(report, "rateLimitHits"), 1, "{report}");
    assert_eq!(report["flushDeadlineHit"], false, "{report}");

    drop(server);
    t.cleanup().await;
}

/// Found by an attack over HTTP: logins with a name over 150 characters or made only of line
/// separators were refused (`BAD_REQUEST`) without a `login_failed` event, and a `User-Agent`
/// with a byte that is not visible ASCII was stored as no user agent at all: two ways to act
/// without a trace. Both are in the trail now.
#[tokio::test]
async fn malformed_logins_and_user_agents_leave_their_trace() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    let login = "mutation($u: String!) { login(username: $u, password: \"a guess\") { token } }";
    for name in ["x".repeat(151), "\u{2028}\u{2029}".to_owned()] {
        let body = server.gql(None, login, json!({ "u": name })).await;
        assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");
    }
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("user-agent", reqwest::header::HeaderValue::from_bytes(b"bot\xff/1.0").unwrap())
        .json(&json!({ "query": login, "variables": { "u": "mallory" } }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);

    server.demo.logger.flush().await.expect("flush");
    let failed = audit_entity::Entity::find()
        .filter(audit_entity::Column::EventType.eq("login_failed"))
        .all(&t.db)
        .await
        .expect("read audit_events");
    let malformed: Vec<_> = failed.iter().filter(|e| e.details["reason"] == "malformed username").collect();
    assert_eq!(malformed.len(), 2, "{failed:?}");
    assert!(malformed.iter().any(|e| e.actor_name.as_deref() == Some(&*"x".repeat(150))), "{malformed:?}");
    let mallory = failed.iter().find(|e| e.actor_name.as_deref() == Some("mallory")).expect("mallory's attempt");
    assert_eq!(mallory.user_agent.as_deref(), Some("bot\u{fffd}/1.0"), "{mallory:?}");
}
