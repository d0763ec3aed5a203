//! Error messages of the demo server over real HTTP on SQLite (issue 14, item 12): a client
//! gets a stable code and a generic message, never internals (serde messages, Rust type and
//! method names); ordinary client errors keep their helpful message.

mod e2e;

use e2e::{Server, error_code, sqlite_server};
use serde_json::{Value, json};

/// Posts `body` as JSON text; returns the status, the `X-Request-Id` and the raw body.
async fn post_raw(server: &Server, body: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, request_id, response.text().await.expect("a body"))
}

#[tokio::test]
async fn a_malformed_request_gets_a_code_not_the_parsers_debug_output() {
    let (_t, server) = sqlite_server(false).await;
    for malformed in [r#"{"query": 1}"#, "{not json", r#"{"query": "{ __typename }", "variables": [1]}"#] {
        let (status, request_id, text) = post_raw(&server, malformed).await;
        assert_eq!(status, 400, "{text}");
        assert!(!request_id.is_empty());
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a GraphQL error in JSON: {text}"));
        assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");
        for internal in ["invalid type", "expected", "line", "column", "InvalidRequest", "Error("] {
            assert!(!text.contains(internal), "`{internal}` leaks in {text}");
        }
    }
    // A well-formed request next to them works.
    let body = server.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn a_server_side_mfa_error_names_no_internals() {
    // Production has no SMS provider (development prints codes on standard output).
    let (_t, server) = sqlite_server(true).await;
    let (token, _) = server.login("demo", demo::DEFAULT_DEMO_PASSWORD, None).await;
    let body = server
        .gql(
            Some(&token),
            r#"mutation { setupSms(phoneNumber: "+14155550123", deviceName: "phone") { success } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("SMS_UNAVAILABLE"), "{body}");
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(!message.contains("MfaManager") && !message.contains("with_sms_provider"), "{body}");
    assert!(message.contains("another second factor"), "the client is told what to do: {body}");

    // A client error keeps its message: it names only what the client sent.
    let body = server.gql(Some(&token), r#"mutation { verifyTotp(code: "123456") { success } }"#, json!({})).await;
    assert_eq!(error_code(&body), Some("MFA_NOT_SET_UP"), "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.to_lowercase().contains("totp")), "{body}");
}
