//! The whole product in one walk, over real HTTP: password login → `secretNote` refused with
//! `MFA_REQUIRED` → `setupTotp` → `verifyTotp` (fresh token, device trusted) → `secretNote`
//! allowed → the same code refused → a backup code works once and only once → the trusted
//! device skips MFA at the next login → revoke → the login limit trips → `securityReport`
//! counts all of it.
//!
//! [`walk`] alternates its requests between two servers; on one server pass it twice.

use std::time::Duration;

use integration_tests::totp_now;
use serde_json::{Value, json};

use super::{Server, count, error_code};

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

/// The login limit of [`walk`]'s servers: demo logs in 4 times (successes never count), fails
/// twice, and the next attempt, with the right password, is refused.
pub const FLOW_LOGIN_LIMIT: u32 = 2;

/// Settings for [`walk`]: [`super::test_config`] with [`FLOW_LOGIN_LIMIT`] attempts.
pub fn flow_config(database_url: &str) -> demo::Settings {
    let mut config = super::test_config(database_url);
    config.config.security.middleware.rate_limiting.login_attempts_limit = FLOW_LOGIN_LIMIT;
    config
}

/// Enrolls a TOTP device.
pub const SETUP_TOTP: &str =
    r#"mutation { setupTotp(deviceName: "phone") { success deviceId secretKey qrCodeUrl backupCodes } }"#;
/// Confirms it with a code (`$c`), optionally trusting the device (`$t`).
pub const VERIFY_TOTP: &str =
    "mutation($c: String!, $t: Boolean) { verifyTotp(code: $c, trustDevice: $t) { success deviceId token } }";
const VERIFY_BACKUP: &str =
    "mutation($c: String!) { verifyBackupCode(code: $c) { success token remainingBackupCodes } }";
const STATUS: &str = "{ mfaStatus { enabled methods backupCodesRemaining trustedDevices sessionVerified } }";

fn data<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body["errors"].is_null(), "{field} failed: {body}");
    &body["data"][field]
}

/// A TOTP code for `secret` that the server has not seen yet: waits for the next 30 s step when
/// the current one is about to end (so a verification never straddles the boundary).
pub async fn fresh_code(secret: &str) -> String {
    let into_step = chrono::Utc::now().timestamp() % 30;
    if into_step >= 27 {
        tokio::time::sleep(Duration::from_secs((31 - into_step) as u64)).await;
    }
    totp_now(secret, 0)
}

/// Walks the flow, sending requests alternately to `a` and `b` (which share a database and,
/// for two instances, Redis), and checks the admin report on both at the end.
pub async fn walk(a: &Server, b: &Server) {
    // 1. Password only: a token, no second factor enrolled yet; the secret stays closed.
    let (password_token, mfa_required) = a.login("demo", DEMO, None).await;
    assert!(!mfa_required, "no factor enrolled yet");
    let body = b.secret_note(&password_token).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    assert!(body["data"].is_null(), "nothing leaks with the refusal: {body}");
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!([]), "nothing enrolled: {body}");

    // 2. Enroll TOTP: the secret and backup codes are shown once.
    let body = a.gql(Some(&password_token), SETUP_TOTP, json!({})).await;
    let setup = data(&body, "setupTotp");
    assert_eq!(setup["success"], true);
    let secret = setup["secretKey"].as_str().expect("secretKey").to_owned();
    assert!(setup["qrCodeUrl"].as_str().is_some_and(|u| u.starts_with("data:image/png;base64,")), "{setup}");
    let backup_codes: Vec<String> = serde_json::from_value(setup["backupCodes"].clone()).expect("backupCodes");
    assert_eq!(backup_codes.len(), 10, "{setup}");

    // A wrong code is refused and does not confirm the device.
    let wrong = if totp_now(&secret, 0) == "000000" { "111111" } else { "000000" };
    let body = b.gql(Some(&password_token), VERIFY_TOTP, json!({ "c": wrong, "t": false })).await;
    assert_eq!(error_code(&body), Some("INVALID_CODE"), "{body}");

    // 3. The right code, asking to trust this device: a fresh token with the MFA level, and the
    //    trusted-device token (`deviceId`) the client keeps for its next login.
    let code = fresh_code(&secret).await;
    let body = b.gql(Some(&password_token), VERIFY_TOTP, json!({ "c": code, "t": true })).await;
    let verified = data(&body, "verifyTotp");
    assert_eq!(verified["success"], true, "{body}");
    let mfa_token = verified["token"].as_str().expect("a fresh token").to_owned();
    let device_token = verified["deviceId"].as_str().expect("the trusted-device token").to_owned();
    assert_ne!(mfa_token, password_token);

    // 4. The fresh token opens the secret on either instance. The enrolment ended the tokens
    //    issued before it (the password-only one too), on both instances.
    for server in [a, b] {
        let body = server.secret_note(&mfa_token).await;
        assert_eq!(body["data"]["secretNote"], demo::schema::SECRET_NOTE, "{body}");
    }
    let (status, body) = a.post(Some(&password_token), "{ secretNote }", json!({})).await;
    assert_eq!(status, 401, "a token issued before the enrolment still works: {body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked", "{body}");
    // A password-only login from now on lists the factor: a pending session.
    let (password_token, mfa_required) = a.login("demo", DEMO, None).await;
    assert!(mfa_required);

    // 5. Replay: the code just accepted is refused, on the other instance too, whoever sends it.
    for (server, token) in [(a, &password_token), (b, &mfa_token)] {
        let body = server.gql(Some(token), VERIFY_TOTP, json!({ "c": code, "t": false })).await;
        assert_eq!(error_code(&body), Some("INVALID_CODE"), "replayed code accepted: {body}");
    }

    // A password-only session cannot replace the factors a user has (stolen password).
    let body = a.gql(Some(&password_token), SETUP_TOTP, json!({})).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    let body = b.gql(Some(&password_token), "mutation { disableMfa { success } }", json!({})).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");

    let body = a.gql(Some(&mfa_token), STATUS, json!({})).await;
    let status = data(&body, "mfaStatus");
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["sessionVerified"], true, "{status}");
    assert_eq!(status["backupCodesRemaining"], 10, "{status}");
    assert_eq!(status["trustedDevices"], 1, "{status}");

    // 6. A new login without the device token needs the second factor; the refusal lists the
    //    user's methods.
    let (second_login, mfa_required) = b.login("demo", DEMO, None).await;
    assert!(mfa_required);
    let body = a.secret_note(&second_login).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]), "{body}");

    // 7. A backup code works once and only once (on either instance).
    let body = a.gql(Some(&second_login), VERIFY_BACKUP, json!({ "c": backup_codes[0] })).await;
    let used = data(&body, "verifyBackupCode");
    assert_eq!(used["success"], true, "{body}");
    assert_eq!(used["remainingBackupCodes"], 9, "{body}");
    let backup_token = used["token"].as_str().expect("a fresh token").to_owned();
    let body = b.secret_note(&backup_token).await;
    assert_eq!(body["data"]["secretNote"], demo::schema::SECRET_NOTE, "{body}");
    let body = b.gql(Some(&second_login), VERIFY_BACKUP, json!({ "c": backup_codes[0] })).await;
    assert_eq!(error_code(&body), Some("INVALID_CODE"), "a backup code worked twice: {body}");

    // 8. The trusted device skips the second factor at the next login; its token satisfies
    //    `#[require_mfa]`.
    let (trusted_login, mfa_required) = a.login("demo", DEMO, Some(&device_token)).await;
    assert!(!mfa_required, "the trusted device was not honoured");
    let body = b.secret_note(&trusted_login).await;
    assert_eq!(body["data"]["secretNote"], demo::schema::SECRET_NOTE, "{body}");

    // 9. Revoke it: the same device token no longer skips anything.
    let body = b.gql(Some(&trusted_login), "{ trustedDevices { id deviceName } }", json!({})).await;
    let devices = data(&body, "trustedDevices").as_array().expect("a list").clone();
    assert_eq!(devices.len(), 1, "{body}");
    let body = a
        .gql(
            Some(&trusted_login),
            "mutation($id: ID!) { revokeTrustedDevice(id: $id) { success } }",
            json!({ "id": devices[0]["id"] }),
        )
        .await;
    assert_eq!(data(&body, "revokeTrustedDevice")["success"], true, "{body}");
    let (after_revoke, mfa_required) = b.login("demo", DEMO, Some(&device_token)).await;
    assert!(mfa_required, "a revoked trusted device still skipped MFA");
    let body = a.secret_note(&after_revoke).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");

    // 10. Guessing trips the login limit: demo's 5 successful logins did not count; two wrong
    //     guesses use up the limit, then even the right password is refused, whichever
    //     instance is asked.
    for server in [a, b] {
        let body = server.login_raw("demo", "a wrong guess", None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{body}");
    }
    for server in [a, b] {
        let body = server.login_raw("demo", DEMO, None).await;
        assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
        assert!((1..=900).contains(&retry_after), "retryAfter {retry_after}");
    }

    // 11. The report counts all of it, on either instance (both queues written first).
    // securityReport needs an admin who passed a second factor (3 more MFA events).
    let admin = b.admin_with_totp().await.token;
    a.demo.logger.flush().await.expect("flush A");
    b.demo.logger.flush().await.expect("flush B");
    let logged: Vec<String> = super::events(&a.demo.db).await.into_iter().map(|(kind, _)| kind).collect();
    for server in [a, b] {
        let report = server.report(&admin).await;
        let seen = format!("{report}\nevents: {logged:?}");
        // demo 5 + admin 1; the two wrong guesses.
        assert_eq!(count(&report, "successfulLogins"), 6, "{seen}");
        assert_eq!(count(&report, "failedLogins"), 2, "{seen}");
        // The first refusal of the window, audited once.
        assert_eq!(count(&report, "rateLimitHits"), 1, "{seen}");
        // secretNote refused 3 times (the revoked token's request is refused before it, as
        // `token_revoked`), setupTotp and disableMfa refused once each.
        assert_eq!(count(&report, "unauthorizedAccess"), 5, "{seen}");
        // 2 mfa_enabled (the backup codes setupTotp made, the TOTP device confirmed) + 2
        // mfa_success (TOTP, backup code) + 4 mfa_failed (the wrong code, 2 replays, the reused
        // backup code); the admin's enrolment: 2 mfa_enabled + 1 mfa_success.
        assert_eq!(count(&report, "mfaEvents"), 11, "{seen}");
    }
}
