//! Issue 14, items 5 and 6, reproduced against the demo server over real HTTP (MFA enabled, as in
//! production):
//! - a password-only token of a user who has a second factor used to be a full session: it read
//!   and wrote notes, listed trusted devices with their address and user agent, revoked them and
//!   sent SMS codes. Now (`mfa.pending_session_policy = "strict"`, the default) it may only
//!   complete the second factor, read `mfaStatus` and log out;
//! - a trusted-device login (no code typed) used to add a TOTP device, generate backup codes,
//!   remove devices and disable MFA. Now changing factors needs a code-based factor passed within
//!   `mfa.step_up_window_seconds` (10 minutes by default).

mod e2e;

use chrono::Utc;
use e2e::{Server, error_code, test_config};
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::context::{MfaState, Principal};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::mfa::policy::MfaPolicy;
use serde_json::{Value, json};

const ADMIN: &str = demo::DEFAULT_ADMIN_PASSWORD;

/// The test settings with MFA enabled (the production default) and room for a few logins.
fn settings(t: &TestDb, policy: MfaPolicy) -> demo::Settings {
    let mut settings = test_config(&t.url);
    settings.config.security.mfa.enabled = true;
    settings.config.security.mfa.pending_session_policy = policy;
    settings.config.security.middleware.rate_limiting.login_attempts_limit = 20;
    settings
}

fn refused(body: &Value, field: &str) {
    assert_eq!(error_code(body), Some("MFA_REQUIRED"), "{field}: {body}");
    assert!(body["data"].is_null() || body["data"][field].is_null(), "{field} answered: {body}");
}

async fn unauthorized(server: &Server, resource: &str) -> usize {
    server.demo.logger.flush().await.expect("flush");
    e2e::events(&server.demo.db)
        .await
        .into_iter()
        .filter(|(kind, details)| kind == "unauthorized_access" && details["resource"] == resource)
        .count()
}

/// Fresh backup codes of the admin (the enrolment token is a step-up of a moment ago). Backup
/// codes, unlike TOTP codes, need no waiting for the next time step.
async fn backup_codes(server: &Server, verified: &str) -> Vec<String> {
    let body = server.gql(Some(verified), "mutation { generateBackupCodes { backupCodes } }", json!({})).await;
    serde_json::from_value(body["data"]["generateBackupCodes"]["backupCodes"].clone())
        .unwrap_or_else(|_| panic!("{body}"))
}

/// Passes a backup code with `token`; returns the payload (`deviceId` with `trust`, `token`).
async fn pass(server: &Server, token: &str, code: &str, trust: bool) -> Value {
    let body = server
        .gql(
            Some(token),
            "mutation($c: String!, $t: Boolean!) { verifyBackupCode(code: $c, trustDevice: $t) { deviceId token } }",
            json!({ "c": code, "t": trust }),
        )
        .await;
    assert!(body["data"]["verifyBackupCode"]["token"].is_string(), "{body}");
    body["data"]["verifyBackupCode"].clone()
}

/// The id of the admin's only trusted device (read with a verified token).
async fn trusted_device_id(server: &Server, verified: &str) -> String {
    let body = server.gql(Some(verified), "{ trustedDevices { id } }", json!({})).await;
    body["data"]["trustedDevices"][0]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn a_password_only_session_can_only_complete_the_second_factor(t: &TestDb) {
    let server = Server::start(&settings(t, MfaPolicy::HighestAvailable), t.db.clone()).await;
    let admin = server.admin_with_totp().await;
    let codes = backup_codes(&server, &admin.token).await;
    assert!(pass(&server, &admin.token, &codes[0], true).await["deviceId"].is_string());
    let device = trusted_device_id(&server, &admin.token).await;

    let (password, mfa_required) = server.login("admin", ADMIN, None).await;
    assert!(mfa_required);
    // The attack of item 5: everything a full session can do.
    for (field, query, variables) in [
        ("notes", "{ notes { id } }", json!({})),
        ("createNote", r#"mutation { createNote(title: "t", body: "b") { id } }"#, json!({})),
        ("trustedDevices", "{ trustedDevices { ipAddress userAgent } }", json!({})),
        ("mfaDevices", "{ mfaDevices { id } }", json!({})),
        ("me", "{ me { id } }", json!({})),
        (
            "revokeTrustedDevice",
            "mutation($id: ID!) { revokeTrustedDevice(id: $id) { success } }",
            json!({ "id": device }),
        ),
        ("sendSmsCode", "mutation { sendSmsCode { success } }", json!({})),
    ] {
        let body = server.gql(Some(&password), query, variables).await;
        refused(&body, field);
        assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]), "{body}");
    }
    assert_eq!(unauthorized(&server, "Query.notes").await, 1);
    assert_eq!(unauthorized(&server, "Mutation.revokeTrustedDevice").await, 1);
    // Nothing happened: the trusted device is still there, no note was written.
    let body = server.gql(Some(&admin.token), "{ trustedDevices { id } notes { id } }", json!({})).await;
    assert_eq!(body["data"]["trustedDevices"][0]["id"], device.as_str(), "{body}");
    assert_eq!(body["data"]["notes"], json!([]), "{body}");

    // What it may do: read its MFA status, complete the second factor, log out.
    let body = server.gql(Some(&password), "{ __typename mfaStatus { enabled sessionVerified } }", json!({})).await;
    assert_eq!(body["data"]["mfaStatus"], json!({ "enabled": true, "sessionVerified": false }), "{body}");
    let verified = pass(&server, &password, &codes[1], false).await["token"].as_str().expect("token").to_owned();
    let body = server.gql(Some(&verified), "{ notes { id } }", json!({})).await;
    assert_eq!(body["data"]["notes"], json!([]), "the verified session is a full one: {body}");
    let (other, _) = server.login("admin", ADMIN, None).await;
    let body = server.gql(Some(&other), "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
}

async fn a_lenient_policy_keeps_the_password_only_session(t: &TestDb) {
    let server = Server::start(&settings(t, MfaPolicy::Lenient), t.db.clone()).await;
    server.admin_with_totp().await;
    let (password, mfa_required) = server.login("admin", ADMIN, None).await;
    assert!(mfa_required);
    let body = server.gql(Some(&password), "{ notes { id } }", json!({})).await;
    assert_eq!(body["data"]["notes"], json!([]), "{body}");
    // `#[require_mfa]` fields still need the second factor.
    assert_eq!(error_code(&server.secret_note(&password).await), Some("MFA_REQUIRED"));
}

async fn a_trusted_device_alone_cannot_change_factors(t: &TestDb) {
    let server = Server::start(&settings(t, MfaPolicy::HighestAvailable), t.db.clone()).await;
    let admin = server.admin_with_totp().await;
    let codes = backup_codes(&server, &admin.token).await;
    let device_token =
        pass(&server, &admin.token, &codes[0], true).await["deviceId"].as_str().expect("deviceId").to_owned();
    pass(&server, &admin.token, &codes[1], true).await;
    // Newest first: the second device (another one), then the first (the one logged in with).
    let body = server.gql(Some(&admin.token), "{ trustedDevices { id } }", json!({})).await;
    let other = body["data"]["trustedDevices"][0]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let own = body["data"]["trustedDevices"][1]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let (trusted, mfa_required) = server.login("admin", ADMIN, Some(&device_token)).await;
    assert!(!mfa_required, "the trusted device skips the code at login");
    // The session is verified: it reads as before.
    assert_eq!(server.secret_note(&trusted).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
    let body = server.gql(Some(&trusted), "{ mfaDevices { id } }", json!({})).await;
    let totp = body["data"]["mfaDevices"][0]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();

    // The attack of item 6: change the factors without typing a code.
    for (field, query, variables) in [
        ("setupTotp", r#"mutation { setupTotp(deviceName: "attacker") { secretKey } }"#, json!({})),
        ("setupSms", r#"mutation { setupSms(phoneNumber: "+15550100", deviceName: "x") { success } }"#, json!({})),
        ("generateBackupCodes", "mutation { generateBackupCodes { backupCodes } }", json!({})),
        ("removeMfaDevice", "mutation($id: ID!) { removeMfaDevice(id: $id) { success } }", json!({ "id": totp })),
        (
            "revokeTrustedDevice",
            "mutation($id: ID!) { revokeTrustedDevice(id: $id) { success } }",
            json!({ "id": other }),
        ),
        ("disableMfa", "mutation { disableMfa { success } }", json!({})),
    ] {
        let body = server.gql(Some(&trusted), query, variables).await;
        refused(&body, field);
        assert_eq!(body["errors"][0]["extensions"]["maxAgeSeconds"], 600, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]), "{body}");
    }
    assert_eq!(unauthorized(&server, "Mutation.disableMfa").await, 1);
    let body = server.gql(Some(&admin.token), "{ mfaStatus { enabled } mfaDevices { id isActive } }", json!({})).await;
    assert_eq!(body["data"]["mfaStatus"]["enabled"], true, "MFA is still on: {body}");
    assert_eq!(body["data"]["mfaDevices"], json!([{ "id": totp, "isActive": true }]), "{body}");

    // A code passed more than the window ago does not count either.
    let admin_id = server.gql(Some(&admin.token), "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let admin_id = admin_id.as_str().expect("the admin's id");
    let principal = Principal::new(admin_id, "admin").with_roles(["admin"]);
    let mut stale = MfaState::verified(Utc::now() - chrono::Duration::minutes(11), MfaMethod::Totp);
    stale.trusted_device = false;
    let methods = [MfaMethod::Totp, MfaMethod::BackupCode];
    let old = server.demo.tokens.issue_with_methods(&principal, &stale, &methods, None).expect("token").token;
    let body = server.gql(Some(&old), "mutation { generateBackupCodes { backupCodes } }", json!({})).await;
    refused(&body, "generateBackupCodes");

    // Its own device it may forget without a code (logging this device out of "trusted").
    let revoke = "mutation($id: ID!) { revokeTrustedDevice(id: $id) { success } }";
    let body = server.gql(Some(&trusted), revoke, json!({ "id": own })).await;
    assert_eq!(body["data"]["revokeTrustedDevice"]["success"], true, "{body}");

    // Typing a code steps up: the factors can change.
    let stepped_up = pass(&server, &trusted, &codes[2], false).await["token"].as_str().expect("token").to_owned();
    let body = server.gql(Some(&stepped_up), "mutation { generateBackupCodes { backupCodes } }", json!({})).await;
    assert_eq!(body["data"]["generateBackupCodes"]["backupCodes"].as_array().map(Vec::len), Some(10), "{body}");
    let body = server.gql(Some(&stepped_up), revoke, json!({ "id": other })).await;
    assert_eq!(body["data"]["revokeTrustedDevice"]["success"], true, "{body}");
}

on_every_backend!(pending_session_is_limited, a_password_only_session_can_only_complete_the_second_factor);
on_every_backend!(lenient_policy, a_lenient_policy_keeps_the_password_only_session);
on_every_backend!(trusted_device_cannot_change_factors, a_trusted_device_alone_cannot_change_factors);
