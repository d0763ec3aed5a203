//! The demo's dashboard sits behind the same HTTP security layers as `/graphql`: it used to be
//! merged after them, so it answered any `Host` (no allowed-hosts check, no https redirect,
//! no request id, no request limit or body limit).

mod e2e;

use e2e::{Server, test_config};
use integration_tests::{Backend, TestDb};

#[tokio::test]
async fn the_dashboard_answers_only_allowed_hosts() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let mut settings = test_config(&t.url);
    settings.config.security.deployment.allowed_hosts = vec!["demo.example".to_owned()];
    let server = Server::start(&settings, t.db.clone()).await;
    let login = server.url.replace("/graphql", "/security/login");
    let client = reqwest::Client::new();

    let allowed = client.get(&login).header("host", "demo.example").send().await.expect("answers");
    assert_eq!(allowed.status().as_u16(), 200);
    assert!(allowed.headers().contains_key("x-request-id"), "the dashboard gets request ids");
    assert_eq!(allowed.headers()["x-content-type-options"], "nosniff");

    for path in ["/security/login", "/security", "/security/report.json"] {
        let url = server.url.replace("/graphql", path);
        let refused = client.get(&url).header("host", "evil.example").send().await.expect("answers");
        assert_eq!(refused.status().as_u16(), 400, "GET {path} for another host");
        let body: serde_json::Value = refused.json().await.expect("a JSON refusal");
        assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_HOST", "{body}");
    }
    // A sign-in posted for another host is refused before the password is looked at.
    let refused = client
        .post(&login)
        .header("host", "evil.example")
        .form(&[("username", "admin"), ("password", demo::DEFAULT_ADMIN_PASSWORD)])
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 400);
}
