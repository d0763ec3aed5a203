//! Bearer tokens: claims, tampering, expiry (audited once), revocation of a token, of a session
//! and of every session of a user, shared through the database (every backend), Redis, and
//! Redis in front of the database (surviving a Redis restart), refresh races, purging, and no
//! secret in any output.

use std::time::Duration;

use chrono::Utc;
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenError, TokenService};
use rail_graphql_security::context::{MfaLevel, MfaState, Principal, Requirement};
use rail_graphql_security::mfa::{MfaMethod, MfaRequirement};
use secrecy::SecretString;

const SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";

fn config() -> TokenConfig {
    TokenConfig::new(SECRET).unwrap()
}

fn alice() -> Principal {
    Principal::new(42, "alice").with_roles(["admin"])
}

fn service(store: RevocationStore) -> (TokenService, AuditLogger, rail_graphql_security::audit::MemorySink) {
    let (logger, sink) = integration_tests::capturing_logger();
    (TokenService::new(config(), store).with_audit(logger.clone()), logger, sink)
}

#[tokio::test]
async fn a_token_carries_the_user_roles_and_second_factor_state() {
    let (tokens, logger, sink) = service(RevocationStore::memory());
    let passed_at = Utc::now() - chrono::Duration::minutes(3);
    let issued =
        tokens.issue(&alice(), &MfaState::verified(passed_at, MfaMethod::Totp), "203.0.113.1".parse().ok()).unwrap();
    let claims = tokens.verify(&issued.token, None).await.unwrap();
    assert_eq!(claims.principal(), alice());
    let mfa = claims.mfa_state();
    assert_eq!(mfa.level, MfaLevel::Verified);
    assert_eq!(mfa.verified_at.unwrap().timestamp(), passed_at.timestamp());
    assert_eq!(mfa.method, Some(MfaMethod::Totp));
    let context = claims.security_context();
    assert!(context.check(&Requirement::Mfa(MfaRequirement::new().max_age(Duration::from_secs(300)))).is_ok());
    assert!(context.check(&Requirement::Mfa(MfaRequirement::new().max_age(Duration::from_secs(60)))).is_err());
    assert_eq!(context.token_id.as_deref(), Some(issued.jti.as_str()));

    // Password-only tokens say so.
    let plain = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    assert_eq!(tokens.verify(&plain.token, None).await.unwrap().mfa, MfaLevel::None);

    // Issuing is audited; using a valid token is not (it is not a login).
    for _ in 0..5 {
        tokens.verify(&issued.token, None).await.unwrap();
    }
    logger.flush().await.expect("flush the audit logger");
    let events = sink.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.event_type.as_str() == "token_created"));
    assert_eq!(events[0].actor_id.as_deref(), Some("42"));
    assert_eq!(events[0].details["jti"], issued.jti);
    assert_eq!(events[0].details["mfa_level"], "verified");
    assert_eq!(events[0].client_ip, "203.0.113.1".parse().ok());
    logger.shutdown().await.unwrap();
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_invalid() {
    let tokens = TokenService::new(config(), RevocationStore::memory());
    let issued = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    // Signed with another secret.
    let other = TokenService::new(
        TokenConfig::new("another-secret-0123456789-abcdefghijk").unwrap(),
        RevocationStore::memory(),
    );
    let forged = other.issue(&alice(), &MfaState::verified(Utc::now(), MfaMethod::Totp), None).unwrap();
    // Payload swapped (claims MFA) with the original signature.
    let parts: Vec<&str> = issued.token.split('.').collect();
    let forged_parts: Vec<&str> = forged.token.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    // alg=none.
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let unsigned = format!("{none_header}.{}.", parts[1]);
    // Another issuer.
    let foreign = TokenService::new(config().issuer("someone-else"), RevocationStore::memory())
        .issue(&alice(), &MfaState::none(), None)
        .unwrap();
    let huge = "a".repeat(100_000);
    // The genuine token is verified (and cached) first: near-copies of it must still fail.
    tokens.verify(&issued.token, None).await.unwrap();
    for bad in [forged.token.as_str(), &spliced, &unsigned, &foreign.token, "", "not.a.token", "....", &huge] {
        let err = tokens.verify(bad, None).await.unwrap_err();
        assert!(matches!(err, TokenError::Invalid), "{bad:.40}: {err:?}");
    }
}

#[tokio::test]
async fn the_authorization_header_scheme_is_checked() {
    let tokens = TokenService::new(config(), RevocationStore::memory());
    let issued = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    assert!(tokens.authenticate(None, None).await.unwrap().is_none());
    for header in [format!("Bearer {}", issued.token), format!("bearer  {} ", issued.token)] {
        assert_eq!(tokens.authenticate(Some(&header), None).await.unwrap().unwrap().sub, "42");
    }
    let err = tokens.authenticate(Some(&format!("Basic {}", issued.token)), None).await.unwrap_err();
    assert!(err.to_string().contains("Authorization: Bearer <token>"), "{err}");
    assert!(matches!(tokens.authenticate(Some(&issued.token), None).await, Err(TokenError::WrongScheme(_))));

    let jwt = TokenService::new(config().header_prefix("JWT"), RevocationStore::memory());
    let issued = jwt.issue(&alice(), &MfaState::none(), None).unwrap();
    assert!(jwt.authenticate(Some(&format!("JWT {}", issued.token)), None).await.unwrap().is_some());
    assert!(jwt.authenticate(Some(&format!("Bearer {}", issued.token)), None).await.is_err());
}

#[tokio::test]
async fn an_expired_token_is_refused_and_audited_once() {
    let (logger, sink) = integration_tests::capturing_logger();
    let tokens = TokenService::new(config().lifetime(Duration::ZERO).leeway(Duration::ZERO), RevocationStore::memory())
        .with_audit(logger.clone());
    let issued = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    for _ in 0..5 {
        assert!(matches!(tokens.verify(&issued.token, "198.51.100.3".parse().ok()).await, Err(TokenError::Expired)));
    }
    logger.flush().await.expect("flush the audit logger");
    let expired = sink.of_type("token_expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].actor_id.as_deref(), Some("42"));
    assert_eq!(expired[0].details["jti"], issued.jti);
    // Another expired token is its own event.
    let second = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    let _ = tokens.verify(&second.token, None).await;
    logger.flush().await.expect("flush the audit logger");
    assert_eq!(sink.of_type("token_expired").len(), 2);
    // Refreshing an expired token is not possible.
    assert!(matches!(tokens.refresh(&issued.token, None).await, Err(TokenError::Expired)));
    logger.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_short_secret_is_refused_with_advice() {
    let err = TokenConfig::new("short").unwrap_err();
    assert!(matches!(err, TokenError::WeakSecret));
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
}

#[tokio::test]
async fn no_secret_or_token_reaches_debug_output_or_audit_events() {
    let (tokens, logger, sink) = service(RevocationStore::memory());
    let issued = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    let refreshed = tokens.refresh(&issued.token, None).await.unwrap();
    let claims = tokens.verify(&refreshed.token, None).await.unwrap();
    tokens.revoke(&claims, None).await.unwrap();
    let debug = format!("{tokens:?} {:?} {issued:?} {refreshed:?}", tokens.config());
    let signature = issued.token.rsplit('.').next().unwrap();
    for secret in [SECRET, issued.token.as_str(), refreshed.token.as_str(), signature] {
        assert!(!debug.contains(secret), "{debug}");
    }
    logger.flush().await.expect("flush the audit logger");
    let events = serde_json::to_string(&sink.events()).unwrap();
    assert_eq!(sink.events().len(), 3, "{events}");
    for secret in [SECRET, issued.token.as_str(), refreshed.token.as_str(), signature] {
        assert!(!events.contains(secret), "{events}");
    }
    let _: SecretString = SecretString::from(SECRET.to_owned());
    logger.shutdown().await.unwrap();
}

/// Revocation, refresh and purge against one store, with a second service ("instance") on a
/// second store handle pointing at the same data.
async fn revocation_holds_across_instances(a: RevocationStore, b: RevocationStore, purges: bool) {
    let (tokens, logger, sink) = service(a);
    let other = TokenService::new(config(), b);
    let issued = tokens.issue(&alice(), &MfaState::verified(Utc::now(), MfaMethod::Totp), None).unwrap();
    let claims = other.verify(&issued.token, None).await.unwrap();

    assert!(other.revoke(&claims, None).await.unwrap());
    assert!(!tokens.revoke(&claims, None).await.unwrap(), "a second revocation is a no-op");
    for service in [&tokens, &other] {
        assert!(matches!(service.verify(&issued.token, None).await, Err(TokenError::Revoked)));
    }
    // Only the first, logging service's revocation... was done by `other`, which has no logger;
    // `tokens`' no-op revocation logs nothing.
    logger.flush().await.expect("flush the audit logger");
    assert!(sink.of_type("token_revoked").is_empty());

    // Refresh: new token works everywhere, the old one nowhere, the second factor's time kept.
    let fresh = tokens
        .issue(&alice(), &MfaState::verified(Utc::now() - chrono::Duration::minutes(9), MfaMethod::Totp), None)
        .unwrap();
    let renewed = tokens.refresh(&fresh.token, None).await.unwrap();
    assert_ne!(renewed.jti, fresh.jti);
    let renewed_claims = other.verify(&renewed.token, None).await.unwrap();
    assert_eq!(
        renewed_claims.mfa_state().verified_at.unwrap().timestamp(),
        tokens.verify(&renewed.token, None).await.unwrap().mfa_at.unwrap()
    );
    assert!(renewed_claims.mfa_state().verified_at.unwrap() < Utc::now() - chrono::Duration::minutes(8));
    assert!(matches!(other.verify(&fresh.token, None).await, Err(TokenError::Revoked)));
    logger.flush().await.expect("flush the audit logger");
    let refreshed = sink.of_type("token_refreshed");
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].details["previous_jti"], fresh.jti);
    assert_eq!(refreshed[0].details["jti"], renewed.jti);

    // Racing refreshes of one token across both instances: exactly one wins.
    let racy = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let service = if i % 2 == 0 { tokens.clone() } else { other.clone() };
            let token = racy.token.clone();
            tokio::spawn(async move { service.refresh(&token, None).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(TokenError::Revoked) => {}
            Err(e) => panic!("unexpected refresh error: {e}"),
        }
    }
    assert_eq!(winners, 1);

    // Logout through the logging service is audited once.
    let session = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    assert!(tokens.revoke_token(&session.token, None).await.unwrap());
    assert!(!tokens.revoke_token(&session.token, None).await.unwrap());
    logger.flush().await.expect("flush the audit logger");
    let revoked = sink.of_type("token_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].details["jti"], session.jti);

    if purges {
        // Entries of expired tokens are purged; live revocations stay.
        // A revocation is kept until its token is refused as expired, clock skew included.
        let short =
            TokenService::new(config().lifetime(Duration::ZERO).leeway(Duration::ZERO), tokens.revocations().clone());
        let gone = short.issue(&alice(), &MfaState::none(), None).unwrap();
        assert!(short.revoke_token(&gone.token, None).await.unwrap());
        assert_eq!(tokens.purge_revoked().await.unwrap(), 1);
        assert!(matches!(other.verify(&issued.token, None).await, Err(TokenError::Revoked)));
    }
    logger.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_in_memory() {
    let store = RevocationStore::memory();
    revocation_holds_across_instances(store.clone(), store, true).await;
}

async fn revocation_in_the_database(t: &TestDb) {
    let a = RevocationStore::database(t.db.clone());
    let b = RevocationStore::database(t.connect_again().await);
    revocation_holds_across_instances(a, b, true).await;
}
on_every_backend!(revocation_database, revocation_in_the_database);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_in_redis() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = RevocationStore::redis(&url, &prefix).await.unwrap();
    let b = RevocationStore::redis(&url, &prefix).await.unwrap();
    revocation_holds_across_instances(a, b, false).await;
}

#[tokio::test]
async fn a_store_failure_is_an_error_not_a_pass() {
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let tokens = TokenService::new(config(), RevocationStore::database(t.db.clone()));
    let issued = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    t.db.clone().close().await.unwrap();
    let err = tokens.verify(&issued.token, None).await.unwrap_err();
    assert!(matches!(err, TokenError::Database(_)), "{err:?}");
    assert!(!err.is_client_error());
    let graphql = async_graphql::ErrorExtensions::extend(&err);
    assert_eq!(graphql.message, "authentication temporarily unavailable, try again shortly");
    let ext = serde_json::to_value(graphql.extensions.unwrap()).unwrap();
    assert_eq!(ext["code"], "SERVICE_UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_task_deletes_expired_revocations_only() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let tokens = TokenService::new(config(), RevocationStore::database(t.db.clone()));
    let short = TokenService::new(
        config().lifetime(Duration::ZERO).leeway(Duration::ZERO),
        RevocationStore::database(t.db.clone()),
    );
    let live = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    assert!(tokens.revoke_token(&live.token, None).await.unwrap());
    for _ in 0..3 {
        let dead = short.issue(&alice(), &MfaState::none(), None).unwrap();
        assert!(short.revoke_token(&dead.token, None).await.unwrap());
    }
    let rows = || async { rail_graphql_security::auth::entity::Entity::find().count(&t.db).await.unwrap() };
    assert_eq!(rows().await, 4);
    let task = tokens.spawn_revocation_purge(Duration::from_millis(20));
    let mut remaining = 4;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        remaining = rows().await;
        if remaining == 1 {
            break;
        }
    }
    task.abort();
    assert_eq!(remaining, 1);
    assert!(matches!(tokens.verify(&live.token, None).await, Err(TokenError::Revoked)));
}

fn user(id: i64, name: &str) -> Principal {
    Principal::new(id, name)
}

fn assert_revoked(result: Result<rail_graphql_security::auth::Claims, TokenError>, what: &str) {
    assert!(matches!(result, Err(TokenError::Revoked)), "{what}: {result:?}");
}

/// Logout ends every token of a login (the login's, the second factor's, a refreshed one) and
/// nothing else; "log out everywhere" ends every token a user had, not later ones; revocations
/// outlive the token's expiry plus the clock skew. `b` is a second handle ("instance") on the
/// data of `a`.
async fn sessions_end_together(a: RevocationStore, b: RevocationStore) {
    let (tokens, logger, sink) = service(a);
    let other = TokenService::new(config(), b);

    // One login: its token, the token its second factor earned, and a refreshed one.
    let login = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    let session = tokens.verify(&login.token, None).await.unwrap().session_id().to_owned();
    assert_eq!(session, login.session_id);
    let verified = MfaState::verified(Utc::now(), MfaMethod::Totp);
    let step_up = other.issue_in_session(&alice(), &verified, &[], &session, None).unwrap();
    let extra = tokens.issue_in_session(&alice(), &verified, &[], &session, None).unwrap();
    let renewed = other.refresh(&extra.token, None).await.unwrap();
    for issued in [&step_up, &renewed] {
        assert_eq!(issued.session_id, session);
        let claims = tokens.verify(&issued.token, None).await.unwrap();
        assert_eq!(claims.security_context().session_id.as_deref(), Some(session.as_str()));
    }
    // A second login of the same user is another session.
    let phone = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    assert_ne!(phone.session_id, session);

    // Logout with the login's token ends the session everywhere, once.
    assert!(tokens.revoke_session(&alice(), &session, None).await.unwrap());
    assert!(!other.revoke_session(&alice(), &session, None).await.unwrap(), "a second logout is a no-op");
    for service in [&tokens, &other] {
        for (issued, what) in [(&login, "login token"), (&step_up, "step-up token"), (&renewed, "refreshed token")] {
            assert_revoked(service.verify(&issued.token, None).await, what);
        }
        service.verify(&phone.token, None).await.expect("the other session still works");
    }
    assert!(matches!(tokens.refresh(&step_up.token, None).await, Err(TokenError::Revoked)));

    // Log out everywhere: every token alice had, on every instance; bob's and later ones work.
    let laptop = other.issue(&alice(), &MfaState::none(), None).unwrap();
    let bob = tokens.issue(&user(7, "bob"), &MfaState::none(), None).unwrap();
    // The cut-off is to the millisecond: let one pass after the last token alice had.
    tokio::time::sleep(Duration::from_millis(2)).await;
    tokens.revoke_all_sessions(&alice(), None).await.unwrap();
    let fresh = tokens.issue(&alice(), &MfaState::none(), None).unwrap();
    for service in [&tokens, &other] {
        assert_revoked(service.verify(&phone.token, None).await, "phone session");
        assert_revoked(service.verify(&laptop.token, None).await, "laptop session");
        service.verify(&bob.token, None).await.expect("another user's token still works");
        service.verify(&fresh.token, None).await.expect("a login after logging out everywhere works");
    }
    // Repeating it moves the cut-off later.
    tokio::time::sleep(Duration::from_millis(2)).await;
    other.revoke_all_sessions(&alice(), None).await.unwrap();
    assert_revoked(tokens.verify(&fresh.token, None).await, "a token older than the second cut-off");
    let again = other.issue(&alice(), &MfaState::none(), None).unwrap();
    tokens.verify(&again.token, None).await.expect("a login after the second cut-off works");

    logger.flush().await.expect("flush the audit logger");
    let revoked = sink.of_type("token_revoked");
    let scopes: Vec<&str> = revoked.iter().map(|e| e.details["scope"].as_str().unwrap_or("?")).collect();
    // The logging instance's logout and its "everywhere" (not the other's no-op).
    assert_eq!(scopes, ["session", "all_sessions"], "{revoked:?}");
    assert_eq!(revoked[0].details["sid"], session.as_str());
    assert_eq!(revoked[1].actor_id.as_deref(), Some("42"));

    // A revocation outlives its tokens' expiry plus the accepted clock skew (30 s): a token
    // that just expired is still accepted within the skew, so the records must stay.
    let carol = user(9, "carol");
    let short = TokenService::new(config().lifetime(Duration::ZERO), tokens.revocations().clone());
    let expiring = short.issue(&carol, &MfaState::none(), None).unwrap();
    let single = short.issue(&carol, &MfaState::none(), None).unwrap();
    short.verify(&expiring.token, None).await.expect("within the skew");
    assert!(short.revoke_session(&carol, &expiring.session_id, None).await.unwrap());
    assert!(short.revoke_token(&single.token, None).await.unwrap());
    tokens.purge_revoked().await.unwrap();
    assert_revoked(short.verify(&expiring.token, None).await, "session revocation after a purge");
    assert_revoked(short.verify(&single.token, None).await, "token revocation after a purge");
    logger.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_memory() {
    let store = RevocationStore::memory();
    sessions_end_together(store.clone(), store).await;
}

async fn sessions_in_the_database(t: &TestDb) {
    let a = RevocationStore::database(t.db.clone());
    let b = RevocationStore::database(t.connect_again().await);
    sessions_end_together(a, b).await;
}
on_every_backend!(sessions_database, sessions_in_the_database);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_redis() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = RevocationStore::redis(&url, &prefix).await.unwrap();
    let b = RevocationStore::redis(&url, &prefix).await.unwrap();
    sessions_end_together(a, b).await;
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

/// Redis in front of the database: everything above, then Redis loses every key (a restart
/// without persistence) and each revocation still holds, reloaded from the database.
async fn redis_cached_revocations_survive_a_redis_restart(t: &TestDb) {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = RevocationStore::redis_cached(&url, &prefix, t.db.clone()).await.unwrap();
    let b = RevocationStore::redis_cached(&url, &prefix, t.connect_again().await).await.unwrap();
    revocation_holds_across_instances(a.clone(), b.clone(), true).await;
    sessions_end_together(a.clone(), b.clone()).await;

    let tokens = TokenService::new(config(), a);
    let other = TokenService::new(config(), b);
    let (dave, erin) = (user(11, "dave"), user(12, "erin"));
    let login = tokens.issue(&dave, &MfaState::none(), None).unwrap();
    let step_up = tokens
        .issue_in_session(&dave, &MfaState::verified(Utc::now(), MfaMethod::Totp), &[], &login.session_id, None)
        .unwrap();
    let single = tokens.issue(&dave, &MfaState::none(), None).unwrap();
    let everywhere = tokens.issue(&erin, &MfaState::none(), None).unwrap();
    let live = tokens.issue(&user(13, "frank"), &MfaState::none(), None).unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(tokens.revoke_session(&dave, &login.session_id, None).await.unwrap());
    assert!(tokens.revoke_token(&single.token, None).await.unwrap());
    tokens.revoke_all_sessions(&erin, None).await.unwrap();

    assert!(integration_tests::redis_delete_prefix(&url, &prefix).await > 0, "the revocations were cached");
    for service in [&other, &tokens] {
        for (issued, what) in
            [(&login, "login token"), (&step_up, "step-up token"), (&single, "single token"), (&everywhere, "erin")]
        {
            assert_revoked(service.verify(&issued.token, None).await, what);
        }
        service.verify(&live.token, None).await.expect("an unrevoked token still works");
    }
    // The first check refilled Redis from the database.
    assert!(integration_tests::redis_exists(&url, &format!("{prefix}:revocations:loaded")).await);
    assert!(integration_tests::redis_exists(&url, &format!("{prefix}:revoked:s:{}", login.session_id)).await);
    assert!(integration_tests::redis_exists(&url, &format!("{prefix}:revoked:{}", single.jti)).await);
    // A second restart, then a revocation before any check: still every record holds.
    integration_tests::redis_delete_prefix(&url, &prefix).await;
    assert!(other.revoke_token(&live.token, None).await.unwrap());
    for issued in [&login, &single, &everywhere, &live] {
        assert_revoked(tokens.verify(&issued.token, None).await, "after the second restart");
    }
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}
on_every_backend!(sessions_redis_cached, redis_cached_revocations_survive_a_redis_restart);

/// `issue_listing_methods`, a login's token: methods read as none are read again after signing;
/// changed by then (a first factor confirmed meanwhile), the token is signed again listing them
/// and only that one is handed out and audited. A token with methods is signed once, and a
/// session id is kept.
#[tokio::test]
async fn a_login_token_lists_the_methods_read_after_it_was_signed() {
    use std::cell::Cell;
    let (tokens, logger, sink) = service(RevocationStore::memory());
    let issue = |answers: Vec<Vec<MfaMethod>>, session: Option<&'static str>| {
        let (tokens, reads) = (tokens.clone(), Cell::new(0));
        async move {
            let read = || {
                let answer = answers[reads.get()].clone();
                reads.set(reads.get() + 1);
                std::future::ready(Ok::<_, TokenError>(answer))
            };
            let issued = tokens.issue_listing_methods(&alice(), &MfaState::none(), session, None, read).await.unwrap();
            let claims = tokens.verify(&issued.token, None).await.unwrap();
            (claims, reads.get())
        }
    };
    // A factor confirmed between the first read and the signing.
    let (claims, reads) = issue(vec![vec![], vec![MfaMethod::Totp, MfaMethod::BackupCode]], None).await;
    assert_eq!((claims.enrolled_methods(), reads), (vec![MfaMethod::Totp, MfaMethod::BackupCode], 2));
    // None before and after: the token lists none, read twice.
    let (claims, reads) = issue(vec![vec![], vec![]], Some("login-1")).await;
    assert_eq!((claims.enrolled_methods(), reads, claims.session_id()), (vec![], 2, "login-1"));
    // Methods at the first read: signed once.
    let (claims, reads) = issue(vec![vec![MfaMethod::Sms]], None).await;
    assert_eq!((claims.enrolled_methods(), reads), (vec![MfaMethod::Sms], 1));
    // A bad session id is refused before anything is read.
    let reads = Cell::new(0);
    let read = || {
        reads.set(reads.get() + 1);
        std::future::ready(Ok::<_, TokenError>(Vec::new()))
    };
    let refused = tokens.issue_listing_methods(&alice(), &MfaState::none(), Some(""), None, read).await;
    assert!(matches!(refused, Err(TokenError::InvalidSessionId)) && reads.get() == 0, "{refused:?}");

    logger.flush().await.expect("flush the audit logger");
    assert_eq!(sink.events().iter().filter(|e| e.event_type.as_str() == "token_created").count(), 3);
}
