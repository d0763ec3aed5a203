//! Logout ends the login, not one token (issue 14, item 8), over real HTTP against the demo:
//! after `logout` with the login's token, the token `verifyTotp` returned (the step-up) is
//! refused too (and the enrolment before it ended the tokens issued until then); `logoutEverywhere` ends every session of the user, and a later login works.
//! On SQLite, and on two instances sharing PostgreSQL and Redis where Redis loses its keys (a
//! restart without persistence) between the revocation and the next request: the instance that
//! revoked refuses at once, the other within `REVOCATION_SYNC_BOUND`; and on two instances
//! sharing one SQLite file (polling only).

mod e2e;

use e2e::flow::{SETUP_TOTP, VERIFY_TOTP, fresh_code};
use e2e::{Server, error_code};
use integration_tests::{Backend, TestDb, redis_url, totp_now, unique_prefix};
use serde_json::json;

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;
const ADMIN: &str = demo::DEFAULT_ADMIN_PASSWORD;

/// What happens between a revocation and the requests that must be refused.
#[derive(Clone, Copy)]
enum Between<'a> {
    Nothing,
    /// Every Redis key of the deployment is deleted (Redis restarted empty).
    RedisRestart {
        url: &'a str,
        prefix: &'a str,
    },
}

impl Between<'_> {
    async fn happen(self) {
        if let Between::RedisRestart { url, prefix } = self {
            let deleted = integration_tests::redis_delete_prefix(url, prefix).await;
            assert!(deleted > 0, "the deployment had Redis keys to lose");
        }
    }
}

/// `token` is refused at the HTTP layer as revoked, by `server`.
async fn assert_refused(server: &Server, token: &str, what: &str) {
    let (status, body) = server.post(Some(token), "{ me { username } }", json!({})).await;
    assert_eq!(status, 401, "{what} still works: {body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{what}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked", "{what}: {body}");
}

/// `token` is refused as revoked by `server` before the bound (`REVOCATION_SYNC_BOUND`, plus
/// room for a loaded machine) has passed: the server that did not make the revocation learns
/// it by push or poll.
async fn refused_within_the_bound(server: &Server, token: &str, what: &str) {
    let deadline = std::time::Instant::now()
        + rail_graphql_security::auth::REVOCATION_SYNC_BOUND
        + std::time::Duration::from_secs(4);
    loop {
        let (status, body) = server.post(Some(token), "{ me { username } }", json!({})).await;
        if status == 401 && body["errors"][0]["extensions"]["reason"] == "token_revoked" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what} still works past the bound: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `token` is refused by `revoker` at once (the instance that revoked it) and by `other` within
/// the bound.
async fn refused_everywhere(revoker: &Server, other: &Server, token: &str, what: &str) {
    assert_refused(revoker, token, what).await;
    refused_within_the_bound(other, token, what).await;
}

/// `token` is accepted as `username`'s by `server`. A password-only token of a user who has a
/// second factor (demo enrolled TOTP above) is accepted but may not read `me` (strict
/// `mfa.pending_session_policy`): it answers `MFA_REQUIRED`, not `UNAUTHENTICATED`, and still
/// reads its own `mfaStatus`.
async fn assert_works(server: &Server, token: &str, username: &str) {
    let body = server.gql(Some(token), "{ me { username } }", json!({})).await;
    if error_code(&body) == Some("MFA_REQUIRED") {
        let body = server.gql(Some(token), "{ mfaStatus { enabled sessionVerified } }", json!({})).await;
        assert_eq!(body["data"]["mfaStatus"], json!({ "enabled": true, "sessionVerified": false }), "{body}");
        return;
    }
    assert_eq!(body["data"]["me"]["username"], username, "{body}");
}

/// TOTP enrolled (which ends the tokens issued before it, on both servers) → a login → TOTP
/// passed (a step-up token of the same login) → logout with the login's token → both tokens
/// refused on both servers. Returns an unused backup code of the enrolment.
async fn logout_ends_the_step_up_token_too(a: &Server, b: &Server, between: Between<'_>) -> String {
    let (enrolling, _) = a.login("demo", DEMO, None).await;
    let body = b.gql(Some(&enrolling), SETUP_TOTP, json!({})).await;
    assert!(body["errors"].is_null(), "setupTotp failed: {body}");
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().expect("secretKey").to_owned();
    let backup_code = body["data"]["setupTotp"]["backupCodes"][0].as_str().expect("backup codes").to_owned();
    let code = fresh_code(&secret).await;
    let body = a.gql(Some(&enrolling), VERIFY_TOTP, json!({ "c": code, "t": false })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "{body}");
    refused_everywhere(a, b, &enrolling, "a token issued before the enrolment").await;

    let (login, required) = a.login("demo", DEMO, None).await;
    assert!(required, "the enrolled factor counts");
    let body = a.gql(Some(&login), VERIFY_TOTP, json!({ "c": totp_now(&secret, 1), "t": false })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "{body}");
    let step_up = body["data"]["verifyTotp"]["token"].as_str().expect("a step-up token").to_owned();
    let body = b.secret_note(&step_up).await;
    assert_eq!(body["data"]["secretNote"], demo::schema::SECRET_NOTE, "the step-up token opens the secret: {body}");

    let out = b.gql(Some(&login), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    between.happen().await;
    refused_everywhere(b, a, &step_up, "the step-up token after logout").await;
    refused_everywhere(b, a, &login, "the login token after logout").await;
    // The secret stays closed to the step-up token, whichever instance is asked.
    let (status, body) = a.post(Some(&step_up), "{ secretNote }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["data"].is_null() || body["data"]["secretNote"].is_null(), "{body}");
    backup_code
}

/// Two logins (two sessions) of demo → `logoutEverywhere` from one → both refused, admin's
/// session untouched, and a login afterwards works. When demo has a factor, `backup_code`
/// passes it first on the session that logs out everywhere (the password alone may not).
async fn logout_everywhere_ends_every_session(a: &Server, b: &Server, between: Between<'_>, backup_code: Option<&str>) {
    let (laptop, _) = a.login("demo", DEMO, None).await;
    let (mut phone, _) = b.login("demo", DEMO, None).await;
    let (admin, _) = a.login("admin", ADMIN, None).await;
    // A plain logout of one session leaves the other.
    let out = a.gql(Some(&laptop), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_works(b, &phone, "demo").await;
    let (tablet, _) = a.login("demo", DEMO, None).await;

    if let Some(code) = backup_code {
        let out = b.gql(Some(&phone), "mutation { logoutEverywhere }", json!({})).await;
        assert_eq!(error_code(&out), Some("MFA_REQUIRED"), "the password alone logged out everywhere: {out}");
        let query = "mutation($c: String!) { verifyBackupCode(code: $c) { token } }";
        let out = b.gql(Some(&phone), query, json!({ "c": code })).await;
        phone = out["data"]["verifyBackupCode"]["token"].as_str().unwrap_or_else(|| panic!("{out}")).to_owned();
    }
    let out = b.gql(Some(&phone), "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(out["data"]["logoutEverywhere"], true, "{out}");
    between.happen().await;
    refused_everywhere(b, a, &phone, "the session that logged out everywhere").await;
    refused_everywhere(b, a, &tablet, "another session of the user").await;
    refused_everywhere(a, b, &laptop, "a session logged out before").await;
    for server in [a, b] {
        assert_works(server, &admin, "admin").await;
    }
}

/// A login right after `logoutEverywhere` gets a working token.
async fn fresh_login_after_logout_everywhere(a: &Server, b: &Server) {
    let (before, _) = b.login("admin", ADMIN, None).await;
    let out = a.gql(Some(&before), "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(out["data"]["logoutEverywhere"], true, "{out}");
    let (after, _) = b.login("admin", ADMIN, None).await;
    refused_everywhere(a, b, &before, "admin's token before logging out everywhere").await;
    for server in [a, b] {
        assert_works(server, &after, "admin").await;
    }
    let body = a.gql(None, "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "anonymous: {body}");
}

/// The admin with TOTP, and the token of a device trusted by a second login of theirs.
async fn admin_with_a_trusted_device(server: &Server) -> (e2e::AdminMfa, String) {
    let mut admin = server.admin_with_totp().await;
    let code = admin.next_code().await;
    let (login, _) = server.login("admin", ADMIN, None).await;
    let body = server
        .gql(
            Some(&login),
            "mutation($c: String!) { verifyTotp(code: $c, trustDevice: true) { deviceId } }",
            json!({ "c": code }),
        )
        .await;
    let device = body["data"]["verifyTotp"]["deviceId"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    (admin, device)
}

/// Found by an attack: a trusted-device token kept skipping the second factor after
/// `logoutEverywhere`, so a login with the password alone got a full session again.
#[tokio::test]
async fn logout_everywhere_forgets_the_trusted_devices() {
    let (_t, server) = sqlite_server().await;
    let (admin, device) = admin_with_a_trusted_device(&server).await;
    let (_, required) = server.login("admin", ADMIN, Some(&device)).await;
    assert!(!required, "the trusted device skips the second factor");

    let out = server.gql(Some(&admin.token), "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(out["data"]["logoutEverywhere"], true, "{out}");
    let (token, required) = server.login("admin", ADMIN, Some(&device)).await;
    assert!(required, "the device is no longer trusted");
    let (status, body) = server.post(Some(&token), "{ secretNote }", json!({})).await;
    assert!(status == 200 && error_code(&body) == Some("MFA_REQUIRED"), "{status} {body}");
}

/// Found by an attack over HTTP: trusted-device logins in flight while `logoutEverywhere` ran
/// (checked the device before it was forgotten, signed the token after the sessions' cut-off)
/// kept full sessions for the token's lifetime: 3 of 3 trials, also on two instances. The
/// devices are forgotten before the cut-off now, and a login reads its device again after
/// signing. Racing logins, several rounds: every token they return afterwards is refused or
/// must pass the second factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_device_logins_racing_logout_everywhere_get_no_full_session() {
    use std::sync::atomic::{AtomicBool, Ordering};
    for round in 0..4 {
        // A fresh server each round: a new trusted device needs a TOTP step not used yet.
        let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
        let mut settings = test_config(&t.url);
        settings.config.security.middleware.rate_limiting.login_attempts_limit = 1000;
        settings.config.security.middleware.rate_limiting.login_ip_attempts_limit = 10_000;
        let server = Server::start(&settings, t.db.clone()).await;
        let (admin, device) = admin_with_a_trusted_device(&server).await;
        let done = AtomicBool::new(false);
        let attacker = || async {
            let mut tokens = Vec::new();
            while !done.load(Ordering::Relaxed) {
                tokens.push(server.login("admin", ADMIN, Some(&device)).await.0);
            }
            tokens
        };
        let victim = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let out = server.gql(Some(&admin.token), "mutation { logoutEverywhere }", json!({})).await;
            assert_eq!(out["data"]["logoutEverywhere"], true, "{out}");
            // The logins in flight now began before the logout finished.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            done.store(true, Ordering::Relaxed);
        };
        let (logins, ()) = tokio::join!(futures::future::join_all((0..6).map(|_| attacker())), victim);
        let count = logins.iter().map(Vec::len).sum::<usize>();
        assert!(count > 12, "round {round}: {count} logins, too few to race");
        for token in logins.iter().flatten() {
            let (status, body) = server.post(Some(token), "{ secretNote }", json!({})).await;
            assert!(
                status == 401 || error_code(&body) == Some("MFA_REQUIRED"),
                "round {round}: a trusted-device login outlived logoutEverywhere: {status} {body}"
            );
        }
    }
}

/// Found by an attack over HTTP: a second factor in flight while the user logged out
/// everywhere (a backup code checked for ~0.2 s, the logout 5 ms after it was sent) returned a
/// fresh token of its session signed after the cut-off, which stayed valid for its lifetime.
/// The fresh token now ends when the caller's own token was revoked meanwhile. Several rounds,
/// the logout sent at different moments of the check: every token the factor returns is refused
/// afterwards, or the factor answers `UNAUTHENTICATED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_racing_logout_everywhere_hands_out_no_live_token() {
    let (_t, server) = sqlite_server().await;
    let (login, _) = server.login("demo", DEMO, None).await;
    let body = server.gql(Some(&login), SETUP_TOTP, json!({})).await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let codes: Vec<String> = serde_json::from_value(body["data"]["setupTotp"]["backupCodes"].clone()).unwrap();
    let body = server.gql(Some(&login), VERIFY_TOTP, json!({ "c": fresh_code(&secret).await, "t": false })).await;
    let mut victim = body["data"]["verifyTotp"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let verify = "mutation($c: String!) { verifyBackupCode(code: $c) { token } }";
    let mut codes = codes.into_iter();
    for delay_ms in [0, 20, 60, 120] {
        let (pending, required) = server.login("demo", DEMO, None).await;
        assert!(required);
        let code = codes.next().expect("a backup code");
        let factor = server.post(Some(&pending), verify, json!({ "c": code }));
        let logout = async {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            server.gql(Some(&victim), "mutation { logoutEverywhere }", json!({})).await
        };
        let ((status, body), out) = tokio::join!(factor, logout);
        assert_eq!(out["data"]["logoutEverywhere"], true, "{out}");
        if let Some(token) = body["data"]["verifyBackupCode"]["token"].as_str() {
            let (status, note) = server.post(Some(token), "{ secretNote }", json!({})).await;
            assert_eq!(status, 401, "delay {delay_ms} ms: the factor's token outlived logoutEverywhere: {note}");
        } else {
            assert!(
                status == 401 || error_code(&body) == Some("UNAUTHENTICATED"),
                "delay {delay_ms} ms: {status} {body}"
            );
        }
        // A new session for the next round.
        let (pending, _) = server.login("demo", DEMO, None).await;
        let body = server.gql(Some(&pending), verify, json!({ "c": codes.next().expect("a backup code") })).await;
        victim = body["data"]["verifyBackupCode"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    }
}

/// Found by an attack: a password-only (pending) session of a user with a second factor could
/// call `logoutEverywhere`, so whoever knew the password could end the user's sessions and
/// forget their trusted devices, again and again. It answers `MFA_REQUIRED` now, and nothing of
/// the user's is ended; `logout` of its own session still works.
#[tokio::test]
async fn the_password_alone_cannot_log_the_user_out_everywhere() {
    let (_t, server) = sqlite_server().await;
    let (admin, device) = admin_with_a_trusted_device(&server).await;
    let (pending, required) = server.login("admin", ADMIN, None).await;
    assert!(required);
    let out = server.gql(Some(&pending), "mutation { logoutEverywhere }", json!({})).await;
    assert_eq!(error_code(&out), Some("MFA_REQUIRED"), "{out}");
    assert_works(&server, &admin.token, "admin").await;
    let (_, required) = server.login("admin", ADMIN, Some(&device)).await;
    assert!(!required, "the trusted device is still trusted");
    let out = server.gql(Some(&pending), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_refused(&server, &pending, "the pending session after its logout").await;
}

/// [`e2e::test_config`] with room for every login of these tests (demo logs in 5 times).
fn test_config(database_url: &str) -> demo::Settings {
    let mut settings = e2e::test_config(database_url);
    settings.config.security.middleware.rate_limiting.login_attempts_limit = 10;
    settings
}

async fn sqlite_server() -> (TestDb, Server) {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    (t, server)
}

#[tokio::test]
async fn logout_ends_every_token_of_the_login_on_sqlite() {
    let (_t, server) = sqlite_server().await;
    logout_ends_the_step_up_token_too(&server, &server, Between::Nothing).await;
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_on_sqlite() {
    let (_t, server) = sqlite_server().await;
    logout_everywhere_ends_every_session(&server, &server, Between::Nothing, None).await;
    fresh_login_after_logout_everywhere(&server, &server).await;
}

/// Two servers on one PostgreSQL schema and one Redis prefix (as `e2e_shared.rs`), or `None`
/// when a backend is not configured.
async fn two_instances() -> Option<(TestDb, Server, Server, String, String)> {
    let t = TestDb::new(Backend::Postgres).await?;
    let redis = redis_url()?;
    let mut config = test_config(&t.url);
    config.config.security.middleware.rate_limiting.store_url =
        Some(rail_graphql_security::config::Secret::new(redis.clone()));
    let prefix = unique_prefix();
    config.config.redis_prefix = prefix.clone();
    let a = Server::start(&config, t.db.clone()).await;
    let b = Server::start(&config, t.connect_again().await).await;
    Some((t, a, b, redis, prefix))
}

#[tokio::test]
async fn logout_holds_across_two_instances_and_a_redis_restart() {
    let Some((t, a, b, url, prefix)) = two_instances().await else { return };
    let restart = Between::RedisRestart { url: &url, prefix: &prefix };
    let code = logout_ends_the_step_up_token_too(&a, &b, restart).await;
    logout_everywhere_ends_every_session(&b, &a, restart, Some(&code)).await;
    fresh_login_after_logout_everywhere(&a, &b).await;
    integration_tests::redis_delete_prefix(&url, &prefix).await;
    drop((a, b));
    t.cleanup().await;
}

/// Two servers on one SQLite file: no push channel, polling alone carries the revocations.
#[tokio::test]
async fn logout_holds_across_two_instances_on_one_sqlite_file() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let config = test_config(&t.url);
    let a = Server::start(&config, t.db.clone()).await;
    let b = Server::start(&config, t.connect_again().await).await;
    let code = logout_ends_the_step_up_token_too(&a, &b, Between::Nothing).await;
    logout_everywhere_ends_every_session(&b, &a, Between::Nothing, Some(&code)).await;
    fresh_login_after_logout_everywhere(&a, &b).await;
}
