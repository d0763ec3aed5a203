//! Issue 17: passkeys through the demo server's generated GraphQL API, over real HTTP, on every
//! backend, with a software authenticator on the demo's configured origin
//! (`http://localhost:8000`, relying party `localhost`): register after the password, pass the
//! second factor with it, sign in with the passkey alone and read `secretNote`; and the attacks
//! over HTTP: a phishing origin, a replayed sign-in, a cloned authenticator, hostile input.

mod e2e;

use e2e::{Server, error_code, test_config};
use integration_tests::authenticator::SoftAuthenticator;
use integration_tests::{TestDb, on_every_backend};
use serde_json::{Value, json};

const ORIGIN: &str = "http://localhost:8000";
const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

const BEGIN_REGISTRATION: &str = "mutation { beginPasskeyRegistration { ceremonyId options expiresAt } }";
const FINISH_REGISTRATION: &str = "mutation($c: ID!, $k: String!, $n: String!) {
    finishPasskeyRegistration(ceremonyId: $c, credential: $k, name: $n) { passkey { id name transports } backupCodes token }
}";
const BEGIN_AUTHENTICATION: &str = "mutation { beginPasskeyAuthentication { ceremonyId options } }";
const VERIFY: &str =
    "mutation($c: ID!, $k: String!) { verifyPasskey(ceremonyId: $c, credential: $k) { success token } }";
const BEGIN_SIGN_IN: &str = "mutation { beginPasskeySignIn { ceremonyId options } }";
const FINISH_SIGN_IN: &str =
    "mutation($c: ID!, $k: String!) { finishPasskeySignIn(ceremonyId: $c, credential: $k) { success token } }";

/// `(ceremonyId, options)` of a begin mutation's answer.
fn ceremony(body: &Value, field: &str) -> (String, Value) {
    let payload = &body["data"][field];
    assert!(payload.is_object(), "{field} failed: {body}");
    (payload["ceremonyId"].as_str().unwrap().to_owned(), payload["options"].clone())
}

async fn register(server: &Server, token: &str, key: &mut SoftAuthenticator) -> Value {
    let (id, options) =
        ceremony(&server.gql(Some(token), BEGIN_REGISTRATION, json!({})).await, "beginPasskeyRegistration");
    let credential = key.register(&options, ORIGIN).to_string();
    server.gql(Some(token), FINISH_REGISTRATION, json!({ "c": id, "k": credential, "n": "Laptop" })).await
}

async fn sign_in(server: &Server, key: &mut SoftAuthenticator) -> Value {
    let (id, options) = ceremony(&server.gql(None, BEGIN_SIGN_IN, json!({})).await, "beginPasskeySignIn");
    let assertion = key.authenticate(&options, ORIGIN).to_string();
    server.gql(None, FINISH_SIGN_IN, json!({ "c": id, "k": assertion })).await
}

async fn passkey_flows(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;

    // Enrol a passkey after the password: the first factor, with a first set of backup codes.
    let (password_token, mfa_required) = server.login("demo", DEMO, None).await;
    assert!(!mfa_required);
    let mut key = SoftAuthenticator::new();
    let registered = register(&server, &password_token, &mut key).await;
    let payload = &registered["data"]["finishPasskeyRegistration"];
    assert_eq!(payload["passkey"]["name"], "Laptop", "{registered}");
    assert_eq!(payload["backupCodes"].as_array().unwrap().len(), 10, "a user with only passkeys keeps backup codes");
    // The first factor ends the tokens issued before it (a password-only login taken before
    // the enrolment would stay a full session); the payload's token replaces the login's.
    let (status, body) = server.post(Some(&password_token), "{ passkeys { name } }", json!({})).await;
    assert_eq!((status, error_code(&body)), (401, Some("UNAUTHENTICATED")), "{body}");
    let enrolled = payload["token"].as_str().unwrap_or_else(|| panic!("a token: {registered}")).to_owned();
    assert_eq!(server.secret_note(&enrolled).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
    let listed = server.gql(Some(&enrolled), "{ passkeys { name } mfaStatus { methods } }", json!({})).await;
    assert_eq!(listed["data"]["passkeys"], json!([{ "name": "Laptop" }]));
    assert_eq!(listed["data"]["mfaStatus"]["methods"], json!(["passkey", "backup_code"]));

    // The password alone no longer reads the secret; the refusal offers the passkey.
    let (pending, mfa_required) = server.login("demo", DEMO, None).await;
    assert!(mfa_required);
    let refused = server.secret_note(&pending).await;
    assert_eq!(error_code(&refused), Some("MFA_REQUIRED"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["methods"], json!(["passkey", "backup_code"]));
    // Second factor with the passkey (a pending session may do this, and only this).
    let (id, options) =
        ceremony(&server.gql(Some(&pending), BEGIN_AUTHENTICATION, json!({})).await, "beginPasskeyAuthentication");
    let assertion = key.authenticate(&options, ORIGIN).to_string();
    let verified = server.gql(Some(&pending), VERIFY, json!({ "c": id, "k": assertion })).await;
    let token = verified["data"]["verifyPasskey"]["token"].as_str().unwrap_or_else(|| panic!("{verified}")).to_owned();
    assert_eq!(server.secret_note(&token).await["data"]["secretNote"], demo::schema::SECRET_NOTE);

    // Passwordless: the passkey alone signs in and reads the secret.
    let signed_in = sign_in(&server, &mut key).await;
    let token = signed_in["data"]["finishPasskeySignIn"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    assert_eq!(server.secret_note(token).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
    let me = server.gql(Some(token), "{ me { username mfaVerified } }", json!({})).await;
    assert_eq!(me["data"]["me"], json!({ "username": "demo", "mfaVerified": true }));

    server.demo.logger.flush().await.expect("flush");
    let events = e2e::events(&server.demo.db).await;
    assert!(
        events.iter().any(|(kind, details)| kind == "login_success" && details["login_method"] == "passkey"),
        "the passwordless sign-in is a login_success with login_method passkey"
    );
    assert_eq!(events.iter().filter(|(kind, d)| kind == "mfa_success" && d["method"] == "passkey").count(), 2);

    // An admin (MFA required by role) enrolled with a passkey alone is enrolled: the next login
    // asks for the factor, not for an enrolment.
    const LOGIN: &str = "mutation($p: String!) { login(username: \"admin\", password: $p) { token mfaRequired mfaEnrollmentRequired } }";
    let first = server.gql(None, LOGIN, json!({ "p": demo::DEFAULT_ADMIN_PASSWORD })).await;
    assert_eq!(first["data"]["login"]["mfaEnrollmentRequired"], true, "{first}");
    let admin_token = first["data"]["login"]["token"].as_str().unwrap().to_owned();
    let mut admin_key = SoftAuthenticator::new();
    let registered = register(&server, &admin_token, &mut admin_key).await;
    assert!(registered["data"]["finishPasskeyRegistration"].is_object(), "{registered}");
    let again = server.gql(None, LOGIN, json!({ "p": demo::DEFAULT_ADMIN_PASSWORD })).await;
    assert_eq!(again["data"]["login"]["mfaRequired"], true, "{again}");
    assert_eq!(again["data"]["login"]["mfaEnrollmentRequired"], false, "{again}");

    // The admin signs in with the passkey alone (MFA satisfied) and reads the report: the
    // passkey events are counted on their own.
    let signed_in = sign_in(&server, &mut admin_key).await;
    let admin = signed_in["data"]["finishPasskeySignIn"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    // The report writes the queued events first; they are then in the table too.
    let report = server.gql(Some(admin), "{ securityReport { mfaEvents passkeyEvents } }", json!({})).await;
    let passkey_events = e2e::events(&server.demo.db)
        .await
        .iter()
        .filter(|(kind, d)| kind.starts_with("mfa_") && d["method"] == "passkey")
        .count() as u64;
    // Two registrations, a second factor and two passwordless sign-ins.
    assert_eq!(passkey_events, 5, "registrations and uses");
    assert_eq!(report["data"]["securityReport"]["passkeyEvents"], passkey_events, "{report}");
}
on_every_backend!(register_verify_and_sign_in_over_http_on, passkey_flows);

async fn attacks_over_http(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    let (login, _) = server.login("demo", DEMO, None).await;
    let mut key = SoftAuthenticator::new();
    let registered = register(&server, &login, &mut key).await;
    let token = registered["data"]["finishPasskeyRegistration"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_owned();

    // A phishing page on another origin relays the sign-in: refused.
    let (id, options) = ceremony(&server.gql(None, BEGIN_SIGN_IN, json!({})).await, "beginPasskeySignIn");
    let phished = key.authenticate(&options, "http://localhost.evil.test:8000").to_string();
    let refused = server.gql(None, FINISH_SIGN_IN, json!({ "c": id, "k": phished })).await;
    assert_eq!(error_code(&refused), Some("PASSKEY_REJECTED"), "{refused}");
    assert!(refused["data"].is_null() || refused["data"]["finishPasskeySignIn"].is_null());

    // A captured sign-in replayed: the ceremony is spent.
    let (id, options) = ceremony(&server.gql(None, BEGIN_SIGN_IN, json!({})).await, "beginPasskeySignIn");
    let assertion = key.authenticate(&options, ORIGIN).to_string();
    let first = server.gql(None, FINISH_SIGN_IN, json!({ "c": id, "k": assertion })).await;
    assert!(first["data"]["finishPasskeySignIn"]["token"].is_string(), "{first}");
    let replay = server.gql(None, FINISH_SIGN_IN, json!({ "c": id, "k": assertion })).await;
    assert_eq!(error_code(&replay), Some("PASSKEY_CEREMONY_EXPIRED"), "{replay}");

    // A cloned authenticator (copied before the last sign-in) is refused and audited.
    let mut clone = key.clone_key();
    clone.counter = 0;
    let cloned = sign_in(&server, &mut clone).await;
    assert_eq!(error_code(&cloned), Some("PASSKEY_REJECTED"), "{cloned}");
    server.demo.logger.flush().await.expect("flush");
    let events = e2e::events(&server.demo.db).await;
    assert!(
        events
            .iter()
            .any(|(kind, d)| kind == "suspicious_activity" && d["activity_type"] == "passkey_counter_regression"),
        "the clone is audited as suspicious"
    );

    // Hostile input: a clear error, never a panic or an internal error.
    let (id, _) = ceremony(&server.gql(None, BEGIN_SIGN_IN, json!({})).await, "beginPasskeySignIn");
    for hostile in ["", "null", "{\"rawId\": 1}", "\u{0}\u{1}", &"[".repeat(10_000)] {
        let body = server.gql(None, FINISH_SIGN_IN, json!({ "c": id, "k": hostile })).await;
        let code = error_code(&body);
        assert!(matches!(code, Some("BAD_USER_INPUT" | "PASSKEY_CEREMONY_EXPIRED")), "{hostile:?}: {body}");
    }
    let bad_id = server.gql(None, FINISH_SIGN_IN, json!({ "c": "not-a-uuid", "k": "{}" })).await;
    assert_eq!(error_code(&bad_id), Some("BAD_USER_INPUT"), "{bad_id}");

    // Removing the passkey needs a recent second factor: a password-only session may not.
    let passkey = server.gql(Some(&token), "{ passkeys { id } }", json!({})).await;
    let id = passkey["data"]["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let (pending, _) = server.login("demo", DEMO, None).await;
    let remove = "mutation($id: ID!) { removePasskey(id: $id) { success } }";
    let refused = server.gql(Some(&pending), remove, json!({ "id": id })).await;
    assert!(matches!(error_code(&refused), Some("MFA_REQUIRED" | "FORBIDDEN")), "{refused}");
    // A passkey sign-in is a fresh factor: it may.
    let signed_in = sign_in(&server, &mut key).await;
    let fresh = signed_in["data"]["finishPasskeySignIn"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    let removed = server.gql(Some(fresh), remove, json!({ "id": id })).await;
    assert_eq!(removed["data"]["removePasskey"]["success"], true, "{removed}");
    let gone = sign_in(&server, &mut key).await;
    assert_eq!(error_code(&gone), Some("PASSKEY_REJECTED"), "{gone}");

    // Each begun registration stores a ceremony: a flood is cut at a burst of 10, refilled one
    // every 6 s (one was used above, maybe refilled since).
    let mut begun = 0;
    for _ in 0..12 {
        let body = server.gql(Some(fresh), BEGIN_REGISTRATION, json!({})).await;
        match error_code(&body) {
            None => begun += 1,
            Some(code) => assert_eq!(code, "RATE_LIMITED", "{body}"),
        }
    }
    assert!((9..=10).contains(&begun), "at most 10 registrations a minute per user and address: {begun}");
}
on_every_backend!(passkey_attacks_over_http_on, attacks_over_http);
