//! An attack on the demo server over real HTTP, found by an adversarial review: whoever knows a
//! user's password while the user has no second factor (no step-up is asked then) could start
//! an enrolment of their own and leave it unconfirmed. After the user enrolled a factor, a
//! password-only login confirmed the attacker's device with `verifySms` or `verifyTotp` (both
//! tried unconfirmed devices), passed the second factor and took the account's MFA over
//! (`disableMfa`). Backup codes made by the attacker's `setupTotp` passed it too.
//!
//! Now the factor that makes a user's MFA count drops every other unconfirmed enrolment and
//! the backup codes made before it, and backup codes count only once a factor is confirmed.
//!
//! A second attack of the same review: a token the attacker took with the password before the
//! user enrolled listed no second factor, so it stayed a full session after the enrolment
//! (until it expired, refreshable). Now the enrolment ends every token issued before it. Two
//! more, found by attacking that fix: the first factor was told by the caller's token (one that
//! listed methods, kept through `disableMfa`, re-enrolled without ending anything), and a login
//! that read the methods just before the confirmation and signed just after its cut-off.

mod e2e;

use std::sync::Arc;

use e2e::{Phone, Server, error_code, test_config};
use integration_tests::{Backend, TestDb, totp_now};
use serde_json::{Value, json};

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

async fn start() -> (TestDb, Server, Arc<Phone>) {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let phone = Arc::new(Phone::default());
    let server = Server::start_with_sms(&test_config(&t.url), t.db.clone(), phone.clone()).await;
    (t, server, phone)
}

/// The digits of the last SMS sent to `number`.
fn last_code(phone: &Phone, number: &str) -> String {
    let (_, body) = phone.messages().into_iter().rev().find(|(to, _)| to == number).expect("an SMS to the number");
    body.split_whitespace()
        .find(|w| w.trim_end_matches('.').chars().all(|c| c.is_ascii_digit()) && w.len() > 3)
        .expect("a code")
        .trim_end_matches('.')
        .to_owned()
}

fn data<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body["errors"].is_null(), "{field}: {body}");
    &body["data"][field]
}

/// The user (the victim) enrols TOTP and confirms it, from a login of their own: the TOTP
/// secret, the login's token and the token `verifyTotp` returned.
async fn victim_enrols_totp(server: &Server) -> (String, String, String) {
    let (token, required) = server.login("demo", DEMO, None).await;
    assert!(!required, "no factor counts yet");
    let body =
        server.gql(Some(&token), r#"mutation { setupTotp(deviceName: "my phone") { secretKey } }"#, json!({})).await;
    let secret = data(&body, "setupTotp")["secretKey"].as_str().unwrap().to_owned();
    let body = server
        .gql(
            Some(&token),
            "mutation($c: String!) { verifyTotp(code: $c) { success token } }",
            json!({ "c": totp_now(&secret, 0) }),
        )
        .await;
    assert_eq!(data(&body, "verifyTotp")["success"], true);
    let verified = data(&body, "verifyTotp")["token"].as_str().expect("a token").to_owned();
    (secret, token, verified)
}

const ME: &str = "{ me { username } }";

#[tokio::test]
async fn a_login_taken_with_the_password_before_the_enrolment_ends_with_it() {
    let (_t, server, _phone) = start().await;
    // The attacker logs in with the password while the user has no factor: a full session.
    let (attacker, required) = server.login("demo", DEMO, None).await;
    assert!(!required);
    assert_eq!(data(&server.gql(Some(&attacker), ME, json!({})).await, "me")["username"], "demo");
    let note = "mutation { createNote(title: \"planted\", body: \"x\") { id } }";
    assert!(server.gql(Some(&attacker), note, json!({})).await["errors"].is_null());

    let (_, login, verified) = victim_enrols_totp(&server).await;

    // Every token issued before the enrolment is refused, the attacker's and the user's own
    // login's; the token verifyTotp returned continues the user's session.
    for (who, token) in [("attacker", &attacker), ("the enrolling login", &login)] {
        for query in [ME, note] {
            let (status, body) = server.post(Some(token), query, json!({})).await;
            assert_eq!(status, 401, "{who}'s token outlived the enrolment: {body}");
            assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked", "{who}: {body}");
        }
    }
    assert_eq!(server.secret_note(&verified).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
    // It belongs to the login's session: logging out ends it.
    let body = server.gql(Some(&verified), "mutation { logout }", json!({})).await;
    assert_eq!(data(&body, "logout"), true);
    assert_eq!(server.post(Some(&verified), ME, json!({})).await.0, 401, "the session ended at logout");
    // A new password-only login is a pending session: the second factor is asked for.
    let (again, required) = server.login("demo", DEMO, None).await;
    assert!(required);
    assert_eq!(error_code(&server.gql(Some(&again), ME, json!({})).await), Some("MFA_REQUIRED"));
}

#[tokio::test]
async fn an_sms_enrolment_left_pending_cannot_be_confirmed_after_the_user_enrols() {
    let (_t, server, phone) = start().await;
    // The attacker, with the password, starts an SMS enrolment to a number of their own.
    let (attacker, _) = server.login("demo", DEMO, None).await;
    let body = server
        .gql(
            Some(&attacker),
            r#"mutation { setupSms(phoneNumber: "+15550199999", deviceName: "Phone") { success } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data(&body, "setupSms")["success"], true);
    let code = last_code(&phone, "+15550199999");

    victim_enrols_totp(&server).await;

    // A new password-only login of the attacker: the code of the pending enrolment no longer
    // passes, and no new code goes to the attacker's number.
    let (login, required) = server.login("demo", DEMO, None).await;
    assert!(required, "the user's TOTP device counts");
    let body = server
        .gql(Some(&login), "mutation($c: String!) { verifySms(code: $c) { success token } }", json!({ "c": code }))
        .await;
    assert!(body["data"].is_null() || body["data"]["verifySms"].is_null(), "the attacker's SMS code passed: {body}");
    let sent = phone.messages().len();
    let (status, body) = server.post(Some(&attacker), "mutation { sendSmsCode { success } }", json!({})).await;
    assert_eq!(status, 401, "the attacker's login ended with the enrolment: {body}");
    let body = server.gql(Some(&login), "mutation { sendSmsCode { success } }", json!({})).await;
    assert!(body["errors"].is_array(), "{body}");
    assert_eq!(phone.messages().len(), sent, "no code for the dropped enrolment: {body}");
    let body = server.secret_note(&login).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
}

#[tokio::test]
async fn a_totp_enrolment_and_its_backup_codes_left_pending_pass_nothing_after_the_user_enrols() {
    let (_t, server, phone) = start().await;
    // The attacker starts a TOTP enrolment (which shows a first set of backup codes).
    let (attacker, _) = server.login("demo", DEMO, None).await;
    let body = server
        .gql(Some(&attacker), r#"mutation { setupTotp(deviceName: "App") { secretKey backupCodes } }"#, json!({}))
        .await;
    let setup = data(&body, "setupTotp");
    let secret = setup["secretKey"].as_str().unwrap().to_owned();
    let codes: Vec<String> =
        setup["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    // The codes back up no confirmed factor: they pass nothing, and the user's next login is
    // not taken for one with a factor to pass.
    let body = server
        .gql(
            Some(&attacker),
            "mutation($c: String!) { verifyBackupCode(code: $c) { success } }",
            json!({ "c": codes[0] }),
        )
        .await;
    assert!(body["errors"].is_array(), "a backup code of no factor passed: {body}");

    // The user enrols SMS and confirms it.
    let (victim, required) = server.login("demo", DEMO, None).await;
    assert!(!required);
    let body = server
        .gql(
            Some(&victim),
            r#"mutation { setupSms(phoneNumber: "+14155550123", deviceName: "mine") { success } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data(&body, "setupSms")["success"], true, "the user may enrol: {body}");
    let body = server
        .gql(
            Some(&victim),
            "mutation($c: String!) { verifySms(code: $c) { success token } }",
            json!({ "c": last_code(&phone, "+14155550123") }),
        )
        .await;
    assert_eq!(data(&body, "verifySms")["success"], true);
    let victim = data(&body, "verifySms")["token"].as_str().expect("the token replacing the login's").to_owned();

    // The attacker's TOTP code and backup codes pass nothing now.
    let (login, required) = server.login("demo", DEMO, None).await;
    assert!(required);
    let body = server
        .gql(
            Some(&login),
            "mutation($c: String!) { verifyTotp(code: $c) { success } }",
            json!({ "c": totp_now(&secret, 0) }),
        )
        .await;
    assert!(body["errors"].is_array(), "the attacker's TOTP device passed: {body}");
    for code in &codes[1..3] {
        let body = server
            .gql(Some(&login), "mutation($c: String!) { verifyBackupCode(code: $c) { success } }", json!({ "c": code }))
            .await;
        assert!(body["errors"].is_array(), "the attacker's backup code passed: {body}");
    }
    let status = server.gql(Some(&victim), "{ mfaStatus { methods backupCodesRemaining } }", json!({})).await;
    assert_eq!(data(&status, "mfaStatus"), &json!({ "methods": ["sms"], "backupCodesRemaining": 0 }));
}

const DISABLE: &str = "mutation { disableMfa { success } }";

/// The user turns MFA off and on again from a session that passed the factor (its token lists
/// methods): the login the attacker took while the user had none ends with the re-enrolment.
#[tokio::test]
async fn a_login_taken_while_mfa_was_off_ends_with_the_re_enrolment() {
    let (_t, server, _phone) = start().await;
    let (_, _, verified) = victim_enrols_totp(&server).await;
    assert_eq!(data(&server.gql(Some(&verified), DISABLE, json!({})).await, "disableMfa")["success"], true);
    let (attacker, required) = server.login("demo", DEMO, None).await;
    assert!(!required, "MFA is off");
    assert_eq!(data(&server.gql(Some(&attacker), ME, json!({})).await, "me")["username"], "demo");

    // Re-enrolment from the verified session.
    let body = server
        .gql(Some(&verified), r#"mutation { setupTotp(deviceName: "new phone") { secretKey } }"#, json!({}))
        .await;
    let secret = data(&body, "setupTotp")["secretKey"].as_str().unwrap().to_owned();
    let query = "mutation($c: String!) { verifyTotp(code: $c) { token } }";
    let body = server.gql(Some(&verified), query, json!({ "c": totp_now(&secret, 0) })).await;
    let renewed = data(&body, "verifyTotp")["token"].as_str().expect("a token").to_owned();

    let (status, body) = server.post(Some(&attacker), ME, json!({})).await;
    assert_eq!(status, 401, "the login taken while MFA was off outlived the re-enrolment: {body}");
    assert_eq!(server.secret_note(&renewed).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
}

/// Logins racing the user's first factor: none of the tokens they return is a full session
/// afterwards (each is revoked, or lists the factor and so must pass it). A login that read
/// the methods before the confirmation and signed after the revocation's cut-off used to get
/// a token that listed none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_racing_the_first_factor_get_no_full_session() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let mut settings = test_config(&t.url);
    // Each login in flight holds a slot of the username's limit (successes give it back).
    settings.config.security.middleware.rate_limiting.login_attempts_limit = 100;
    let server = Server::start(&settings, t.db.clone()).await;
    let mut step_up = server.login("demo", DEMO, None).await.0;
    for round in 0..6 {
        let body =
            server.gql(Some(&step_up), r#"mutation { setupTotp(deviceName: "phone") { secretKey } }"#, json!({})).await;
        let secret = data(&body, "setupTotp")["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let done = AtomicBool::new(false);
        let attacker = || async {
            let mut tokens = Vec::new();
            while !done.load(Ordering::Relaxed) {
                tokens.push(server.login("demo", DEMO, None).await.0);
            }
            tokens
        };
        let enrol = async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            let query = "mutation($c: String!) { verifyTotp(code: $c) { token } }";
            let body = server.gql(Some(&step_up), query, json!({ "c": e2e::flow::fresh_code(&secret).await })).await;
            done.store(true, Ordering::Relaxed);
            data(&body, "verifyTotp")["token"].as_str().expect("a token").to_owned()
        };
        let (logins, verified) = tokio::join!(futures::future::join_all((0..8).map(|_| attacker())), enrol);
        for token in logins.iter().flatten() {
            let (status, body) = server.post(Some(token), ME, json!({})).await;
            assert!(
                status == 401 || error_code(&body) == Some("MFA_REQUIRED"),
                "round {round}: a login racing the enrolment is a full session: {status} {body}"
            );
        }
        // Off again (from the verified session) for the next round.
        assert_eq!(data(&server.gql(Some(&verified), DISABLE, json!({})).await, "disableMfa")["success"], true);
        step_up = verified;
    }
}

/// Found by an attack over HTTP: `verifyTotp(trustDevice: true)` with a device name it then
/// refused (empty, too long) confirmed the user's first factor and failed before the sessions
/// begun without it were ended; the retry was no first factor any more, so they never were.
/// The name is checked before the code now, and the factor's confirmation ends the sessions
/// whatever comes after it.
#[tokio::test]
async fn a_refused_trusted_device_name_spends_nothing_and_ends_nothing_early() {
    let (_t, server, _phone) = start().await;
    let (attacker, _) = server.login("demo", DEMO, None).await;
    let (login, _) = server.login("demo", DEMO, None).await;
    let body =
        server.gql(Some(&login), r#"mutation { setupTotp(deviceName: "phone") { secretKey } }"#, json!({})).await;
    let secret = data(&body, "setupTotp")["secretKey"].as_str().unwrap().to_owned();
    let code = e2e::flow::fresh_code(&secret).await;
    let query = "mutation($c: String!, $n: String) { verifyTotp(code: $c, trustDevice: true, deviceName: $n) { token deviceId } }";
    for name in ["", &"n".repeat(101)] {
        let body = server.gql(Some(&login), query, json!({ "c": code, "n": name })).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    }
    let status = server.gql(Some(&login), "{ mfaStatus { enabled } }", json!({})).await;
    assert_eq!(data(&status, "mfaStatus")["enabled"], false, "the refused calls confirmed the device: {status}");

    // The same code, with a name it accepts: the factor counts and the earlier logins end.
    let body = server.gql(Some(&login), query, json!({ "c": code, "n": "my laptop" })).await;
    let token = data(&body, "verifyTotp")["token"].as_str().expect("a token").to_owned();
    assert_eq!(server.post(Some(&attacker), ME, json!({})).await.0, 401, "the attacker's login outlived the enrolment");
    assert_eq!(server.secret_note(&token).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
}
