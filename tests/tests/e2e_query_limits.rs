//! Attacks on the demo server's query limits, over real HTTP on SQLite (issue 14, items 11
//! and 12): alias amplification of an audited field, of an Argon2id-hashing mutation and of
//! `__typename`, and field-name suggestions in production. Each attack is refused before any
//! resolver runs, audited once, and the ordinary request next to it still works.

mod e2e;

use e2e::{Server, error_code, events, sqlite_server};
use serde_json::{Value, json};

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

/// `{ a0: <field> a1: <field> … }` with `count` aliases.
fn aliases(operation: &str, field: &str, count: usize) -> String {
    let selections: Vec<String> = (0..count).map(|i| format!("a{i}: {field}")).collect();
    format!("{operation} {{ {} }}", selections.join(" "))
}

/// The audit events of the server so far, by type.
async fn audit(server: &Server, event_type: &str) -> Vec<Value> {
    server.demo.logger.flush().await.expect("flush the audit queue");
    events(&server.demo.db).await.into_iter().filter(|(t, _)| t == event_type).map(|(_, details)| details).collect()
}

fn assert_refused(body: &Value, code: &str, field: &str) {
    assert_eq!(error_code(body), Some(code), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    assert!(body["data"].is_null(), "nothing executed: {body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "one error, not one per alias: {body}");
}

/// Found by an attack: 10 aliases each of `secretNote` and `securityReport` (within the default
/// of 10 per field) made one anonymous request write 30 audit events, each refusal and each
/// read. Both fields write events at every call, so they run once per request.
#[tokio::test]
async fn an_anonymous_request_cannot_multiply_the_audit_events_of_a_field() {
    let (_t, server) = sqlite_server(false).await;
    let attack = format!(
        "{{ {} }}",
        (0..10)
            .map(|i| format!("n{i}: secretNote r{i}: securityReport {{ totalEvents }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let body = server.gql(None, &attack, json!({})).await;
    assert_eq!(error_code(&body), Some("FIELD_REPEATED"), "{body}");
    assert!(body["data"].is_null(), "nothing executed: {body}");
    for repeated in
        ["n0: secretNote n1: secretNote", "r0: securityReport { totalEvents } r1: securityReport { totalEvents }"]
    {
        let body = server.gql(None, &format!("{{ {repeated} }}"), json!({})).await;
        assert_eq!(error_code(&body), Some("FIELD_REPEATED"), "two aliases: {body}");
    }
    // One event per refused request; no read, no refusal of a resolver.
    assert!(audit(&server, "secret_note_read").await.is_empty());
    assert!(audit(&server, "unauthorized_access").await.is_empty());
    assert_eq!(audit(&server, "suspicious_activity").await.len(), 3);
    // Each field once still answers, and is audited as before.
    let body = server.gql(None, "{ secretNote securityReport { totalEvents } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(audit(&server, "secret_note_read").await.len(), 1);
    assert_eq!(audit(&server, "unauthorized_access").await.len(), 2);
}

#[tokio::test]
async fn a_thousand_aliases_of_the_secret_note_write_one_audit_row_not_a_thousand() {
    let (_t, server) = sqlite_server(false).await;
    let (token, _) = server.login("demo", DEMO, None).await;

    let body = server.gql(Some(&token), &aliases("query", "secretNote", 1000), json!({})).await;
    assert_refused(&body, "FIELD_REPEATED", "Query.secretNote");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 1, "{body}");

    // No resolver ran: neither the read nor its MFA refusal was audited; the refusal once.
    assert!(audit(&server, "secret_note_read").await.is_empty());
    assert!(audit(&server, "unauthorized_access").await.is_empty());
    let suspicious = audit(&server, "suspicious_activity").await;
    assert_eq!(suspicious.len(), 1, "{suspicious:?}");
    assert_eq!(suspicious[0]["activity_type"], "field_repeated");
    assert_eq!(suspicious[0]["details"]["field"], "Query.secretNote");

    // The field itself still answers (here: the password-only token needs a second factor).
    let body = server.secret_note(&token).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    assert_eq!(audit(&server, "secret_note_read").await.len(), 1);
}

#[tokio::test]
async fn twenty_aliases_of_generate_backup_codes_hash_nothing() {
    use sea_orm::ConnectionTrait;
    let (t, server) = sqlite_server(false).await;
    // Backup codes back up a confirmed factor: the admin enrols TOTP (which makes a first set).
    let token = server.admin_with_totp().await.token;
    let codes = async || -> Vec<String> {
        let sql = "SELECT id FROM mfa_backup_codes ORDER BY id";
        let rows = t.db.query_all_raw(sea_orm::Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap();
        rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
    };
    let first_set = codes().await;
    assert_eq!(first_set.len(), 10);

    let attack = aliases("mutation", "generateBackupCodes { success backupCodes }", 20);
    let body = server.gql(Some(&token), &attack, json!({})).await;
    assert_refused(&body, "FIELD_REPEATED", "Mutation.generateBackupCodes");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 1, "{body}");
    assert_eq!(codes().await, first_set, "no set of backup codes was generated");

    // Two aliases are refused too: the mutation runs once per request.
    let body = server.gql(Some(&token), &aliases("mutation", "generateBackupCodes { success }", 2), json!({})).await;
    assert_refused(&body, "FIELD_REPEATED", "Mutation.generateBackupCodes");
    assert_eq!(codes().await, first_set);

    // One call works as before.
    let body = server.gql(Some(&token), "mutation { generateBackupCodes { success backupCodes } }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["generateBackupCodes"]["backupCodes"].as_array().map(Vec::len), Some(10), "{body}");
    let second_set = codes().await;
    assert_eq!(second_set.len(), 10);
    assert!(second_set.iter().all(|id| !first_set.contains(id)), "a new set replaced the first");
}

#[tokio::test]
async fn twenty_thousand_typename_aliases_are_counted() {
    let (_t, server) = sqlite_server(false).await;

    let body = server.gql(None, &aliases("query", "__typename", 20_000), json!({})).await;
    assert_refused(&body, "FIELD_REPEATED", "Query.__typename");

    // One audit row for the refusal, not 20,000 of anything.
    let suspicious = audit(&server, "suspicious_activity").await;
    assert_eq!(suspicious.len(), 1, "{suspicious:?}");

    // An ordinary `__typename` still answers.
    let body = server.gql(None, "{ __typename t: __typename }", json!({})).await;
    assert_eq!(body["data"], json!({ "__typename": "Query", "t": "Query" }), "{body}");
}

#[tokio::test]
async fn production_does_not_suggest_field_names() {
    let misspelt = "{ secretNot }";
    let (_t, development) = sqlite_server(false).await;
    let body = development.gql(None, misspelt, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("Did you mean"), "development keeps suggestions for tooling: {body}");

    let (_t, production) = sqlite_server(true).await;
    let body = production.gql(None, misspelt, json!({})).await;
    let message = body["errors"][0]["message"].as_str().expect("a validation error");
    assert!(message.contains("secretNot"), "{body}");
    assert!(!message.contains("Did you mean") && !message.contains("secretNote"), "the schema leaks: {body}");
    // Nor does introspection answer.
    let body = production.gql(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert!(body["data"].is_null() || body["data"]["__schema"].is_null(), "{body}");
}

// Several threads: on a server that expands the fan-out, the timeout still fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_fan_out_is_refused_before_validation_expands_it() {
    let (_t, server) = sqlite_server(false).await;
    // Each fragment spreads the next twice: 2^30 selections once expanded, in 1 KB of query.
    let mut query = String::from("{ ...F0 }");
    for i in 0..30 {
        query.push_str(&format!(" fragment F{i} on Query {{ ...F{n} ...F{n} }}", n = i + 1));
    }
    query.push_str(" fragment F30 on Query { __typename }");
    // A guard against a hang (async-graphql's validation walks all 2^30), not a measurement.
    let body = tokio::time::timeout(std::time::Duration::from_secs(120), server.gql(None, &query, json!({})))
        .await
        .expect("the server answers instead of expanding 2^30 selections");
    // The walk reaches the 11th `__typename` before the 1,001st selection.
    assert_refused(&body, "FIELD_REPEATED", "Query.__typename");

    // A fragment cycle spread twice per step (2^32 for async-graphql's recursion check).
    let cycle = "{ ...A } fragment A on Query { __typename ...B ...B } fragment B on Query { ...A ...A }";
    let body = tokio::time::timeout(std::time::Duration::from_secs(120), server.gql(None, cycle, json!({})))
        .await
        .expect("the server answers instead of following the cycle");
    assert_eq!(error_code(&body), Some("FRAGMENT_CYCLE"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["fragment"], "A", "{body}");
}
