//! Passkeys (WebAuthn) in the MFA runtime, on SQLite, PostgreSQL and MariaDB, against a software
//! authenticator written to the specification (`integration_tests::authenticator`): register
//! and authenticate, a passwordless sign-in, and the attacks: another origin or relying party,
//! a replayed assertion, a cloned authenticator's counter, another user's credential, a
//! ceremony finished twice (also on two instances at once), expired and malformed input.

use std::sync::Arc;

use integration_tests::authenticator::SoftAuthenticator;
use integration_tests::{TestDb, capturing_logger, on_every_backend};
use rail_graphql_security::audit::{AuditEvent, AuditLogger, MemorySink};
use rail_graphql_security::mfa::{EncryptionKey, SecretCipher};
use rail_graphql_security::mfa::{MfaAccount, MfaConfig, MfaError, MfaManager, MfaUserId, PasskeyConfig};
use rail_graphql_security::migration::{
    AddMfaThrottleHardLock, AddMfaThrottleKnownSources, CreateMfaTables, MfaUserIdColumn, MigrationTrait, SchemaManager,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;
use uuid::Uuid;

const ORIGIN: &str = "https://app.example.com";
const RP_ID: &str = "example.com";

fn config() -> MfaConfig {
    MfaConfig { passkeys: PasskeyConfig::new(RP_ID, [ORIGIN]), ..MfaConfig::default() }
}

fn manager<Id: MfaUserId>(db: DatabaseConnection, logger: &AuditLogger) -> MfaManager<Id> {
    let cipher = SecretCipher::new(EncryptionKey::new("k1", [7; 32]).unwrap());
    MfaManager::new(db, config(), cipher).unwrap().with_audit_logger(logger.clone())
}

fn alice() -> MfaAccount<i64> {
    MfaAccount::new(41, "alice@example.com")
}

fn bob() -> MfaAccount<i64> {
    MfaAccount::new(42, "bob@example.com")
}

/// Registers a new software passkey for `user`.
async fn register<Id: MfaUserId>(mfa: &MfaManager<Id>, user: &MfaAccount<Id>, name: &str) -> SoftAuthenticator {
    let mut authenticator = SoftAuthenticator::new();
    let ceremony = mfa.start_passkey_registration(user).await.expect("begin registration");
    let credential = authenticator.register(&ceremony.options, ORIGIN);
    mfa.finish_passkey_registration(user, ceremony.id, &credential.to_string(), name)
        .await
        .expect("finish registration");
    authenticator
}

/// A second factor with `authenticator` for `user`, from `origin`.
async fn second_factor<Id: MfaUserId>(
    mfa: &MfaManager<Id>,
    user: &MfaAccount<Id>,
    authenticator: &mut SoftAuthenticator,
) -> Result<(), MfaError> {
    let ceremony = mfa.start_passkey_authentication(user).await?;
    let assertion = authenticator.authenticate(&ceremony.options, ORIGIN);
    mfa.verify_passkey(user, ceremony.id, &assertion.to_string()).await
}

async fn events(logger: &AuditLogger, sink: &MemorySink) -> Vec<AuditEvent> {
    logger.flush().await.expect("flush the audit logger");
    sink.events()
}

fn count(events: &[AuditEvent], event_type: &str) -> usize {
    events.iter().filter(|e| e.event_type.as_str() == event_type && e.details["method"] == "passkey").count()
}

async fn register_then_authenticate(t: &TestDb) {
    let (logger, sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    assert!(!mfa.is_mfa_required(&alice()).await.unwrap());

    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let selection = &ceremony.options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "a passkey must be discoverable: {selection}");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(ceremony.options["publicKey"]["rp"]["id"], RP_ID);
    // The user handle is opaque: neither the key nor the name.
    let handle = ceremony.options["publicKey"]["user"]["id"].as_str().unwrap();
    // 16 random bytes in base64url (a random 22-character text contains "41" one time in
    // about 200, so the digits of the key are no test of it).
    assert_eq!(handle.len(), 22, "{handle}");
    assert!(handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{handle}");
    assert!(!handle.contains("alice"), "{handle}");

    let mut key = SoftAuthenticator::new();
    let credential = key.register(&ceremony.options, ORIGIN);
    let info =
        mfa.finish_passkey_registration(&alice(), ceremony.id, &credential.to_string(), " Laptop ").await.unwrap();
    assert_eq!(info.name, "Laptop");
    assert_eq!(info.aaguid, Some(Uuid::from_bytes(*b"rail-test-authnr")));
    assert_eq!(info.transports, ["internal", "hybrid"]);
    assert_eq!(info.sign_count, 0);
    assert!(!info.backup_eligible && !info.backup_state);
    let listed = mfa.list_passkeys(&alice()).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| (p.id, p.credential_id.clone())).collect::<Vec<_>>(),
        [(info.id, info.credential_id.clone())]
    );
    // A passkey is a confirmed factor: MFA is now required of alice.
    assert!(mfa.is_mfa_required(&alice()).await.unwrap());

    second_factor(&mfa, &alice(), &mut key).await.expect("the passkey passes the second factor");
    second_factor(&mfa, &alice(), &mut key).await.expect("and again, with a higher counter");
    let listed = &mfa.list_passkeys(&alice()).await.unwrap()[0];
    assert_eq!(listed.sign_count, 2);
    assert!(listed.last_used.is_some());

    // Renaming and removing are the owner's only.
    mfa.rename_passkey(&alice(), info.id, "Work laptop").await.unwrap();
    assert!(matches!(mfa.rename_passkey(&bob(), info.id, "mine").await, Err(MfaError::UnknownPasskey(_))));
    assert!(matches!(mfa.remove_passkey(&bob(), info.id).await, Err(MfaError::UnknownPasskey(_))));
    assert_eq!(mfa.list_passkeys(&alice()).await.unwrap()[0].name, "Work laptop");
    mfa.remove_passkey(&alice(), info.id).await.unwrap();
    assert!(mfa.list_passkeys(&alice()).await.unwrap().is_empty());
    assert!(matches!(mfa.start_passkey_authentication(&alice()).await, Err(MfaError::NoDevice { method: "passkey" })));

    let events = events(&logger, &sink).await;
    assert_eq!(count(&events, "mfa_enabled"), 1);
    assert_eq!(count(&events, "mfa_success"), 2);
    assert_eq!(count(&events, "mfa_disabled"), 1);
}
on_every_backend!(register_and_authenticate_on, register_then_authenticate);

async fn other_origin_or_relying_party(t: &TestDb) {
    let (logger, sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);

    // Registration on a phishing page (another origin), and for another relying party.
    let mut key = SoftAuthenticator::new();
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let phished = key.register(&ceremony.options, "https://app.example.com.evil.test");
    let refused = mfa.finish_passkey_registration(&alice(), ceremony.id, &phished.to_string(), "x").await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("origin")), "{refused:?}");
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let other_rp = key.register_for(&ceremony.options, ORIGIN, "evil.test");
    let refused = mfa.finish_passkey_registration(&alice(), ceremony.id, &other_rp.to_string(), "x").await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("relying party")), "{refused:?}");
    assert!(mfa.list_passkeys(&alice()).await.unwrap().is_empty());

    // An assertion relayed from another origin, and one for another relying party.
    let mut key = register(&mfa, &alice(), "Phone").await;
    let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let phished = key.authenticate(&ceremony.options, "https://evil.test");
    let refused = mfa.verify_passkey(&alice(), ceremony.id, &phished.to_string()).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("origin")), "{refused:?}");
    let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let other_rp = key.authenticate_for(&ceremony.options, ORIGIN, "evil.test");
    let refused = mfa.verify_passkey(&alice(), ceremony.id, &other_rp.to_string()).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("relying party")), "{refused:?}");

    // Without user verification (no PIN or biometrics) a passkey is not accepted.
    key.user_verified = false;
    let refused = second_factor(&mfa, &alice(), &mut key).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("verify the user")), "{refused:?}");
    key.user_verified = true;
    second_factor(&mfa, &alice(), &mut key).await.expect("the genuine page still works");

    let events = events(&logger, &sink).await;
    assert_eq!(count(&events, "mfa_failed"), 5, "every refusal is audited");
}
on_every_backend!(another_origin_or_relying_party_is_refused_on, other_origin_or_relying_party);

async fn replays(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let mut key = register(&mfa, &alice(), "Phone").await;

    let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let assertion = key.authenticate(&ceremony.options, ORIGIN).to_string();
    mfa.verify_passkey(&alice(), ceremony.id, &assertion).await.expect("first use");
    // The same answer to the same ceremony: the ceremony is spent.
    let replay = mfa.verify_passkey(&alice(), ceremony.id, &assertion).await;
    assert!(matches!(replay, Err(MfaError::CeremonyExpired)), "{replay:?}");
    // The same answer to a new ceremony: it signs another challenge.
    let fresh = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let replay = mfa.verify_passkey(&alice(), fresh.id, &assertion).await;
    assert!(matches!(&replay, Err(MfaError::PasskeyRejected(why)) if why.contains("challenge")), "{replay:?}");
    // A registration answer cannot be replayed either.
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let mut second = SoftAuthenticator::new();
    let credential = second.register(&ceremony.options, ORIGIN).to_string();
    mfa.finish_passkey_registration(&alice(), ceremony.id, &credential, "Key").await.unwrap();
    let again = mfa.finish_passkey_registration(&alice(), ceremony.id, &credential, "Key").await;
    assert!(matches!(again, Err(MfaError::CeremonyExpired)), "{again:?}");
    assert_eq!(mfa.list_passkeys(&alice()).await.unwrap().len(), 2);
}
on_every_backend!(a_replayed_assertion_is_refused_on, replays);

async fn cloned_authenticator(t: &TestDb) {
    let (logger, sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let mut original = register(&mfa, &alice(), "Security key").await;
    let mut clone = original.clone_key();
    for _ in 0..5 {
        second_factor(&mfa, &alice(), &mut original).await.unwrap();
    }
    // The clone was copied at counter 0: its next signature says 1, below the 5 stored.
    let refused = second_factor(&mfa, &alice(), &mut clone).await;
    assert!(matches!(refused, Err(MfaError::PasskeyCounterRegression)), "{refused:?}");
    // Equal to the stored counter is refused too.
    clone.counter = 4;
    let refused = second_factor(&mfa, &alice(), &mut clone).await;
    assert!(matches!(refused, Err(MfaError::PasskeyCounterRegression)), "{refused:?}");
    assert_eq!(mfa.list_passkeys(&alice()).await.unwrap()[0].sign_count, 5, "the stored counter did not move");
    second_factor(&mfa, &alice(), &mut original).await.expect("the original still works");

    // A synced passkey keeps no counter (0 every time): that is accepted every time.
    let mut synced = SoftAuthenticator::new();
    synced.counting = false;
    synced.synced = true;
    let ceremony = mfa.start_passkey_registration(&bob()).await.unwrap();
    let credential = synced.register(&ceremony.options, ORIGIN).to_string();
    let info = mfa.finish_passkey_registration(&bob(), ceremony.id, &credential, "Phone").await.unwrap();
    assert!(info.backup_eligible && info.backup_state);
    for _ in 0..3 {
        second_factor(&mfa, &bob(), &mut synced).await.expect("a passkey without a counter");
    }

    let events = events(&logger, &sink).await;
    let suspicious: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| {
            e.event_type.as_str() == "suspicious_activity" && e.details["activity_type"] == "passkey_counter_regression"
        })
        .collect();
    assert_eq!(suspicious.len(), 2, "each refusal of the clone is audited as suspicious");
    assert_eq!(suspicious[0].actor_id.as_deref(), Some("41"));
    assert_eq!(suspicious[0].details["details"]["stored_sign_count"], 5);
}
on_every_backend!(a_cloned_authenticator_is_refused_and_audited_on, cloned_authenticator);

async fn another_users_credential(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let mut alices = register(&mfa, &alice(), "Alice's key").await;
    let _bobs = register(&mfa, &bob(), "Bob's key").await;

    // Alice's authenticator answers bob's ceremony.
    let ceremony = mfa.start_passkey_authentication(&bob()).await.unwrap();
    let assertion = alices.authenticate(&ceremony.options, ORIGIN);
    let refused = mfa.verify_passkey(&bob(), ceremony.id, &assertion.to_string()).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("not one of yours")), "{refused:?}");
    // Bob finishing alice's ceremony: the ceremony is alice's.
    let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let assertion = alices.authenticate(&ceremony.options, ORIGIN);
    let refused = mfa.verify_passkey(&bob(), ceremony.id, &assertion.to_string()).await;
    assert!(matches!(refused, Err(MfaError::CeremonyExpired)), "{refused:?}");
    // ... and that spent it: alice must begin again.
    let spent = mfa.verify_passkey(&alice(), ceremony.id, &assertion.to_string()).await;
    assert!(matches!(spent, Err(MfaError::CeremonyExpired)), "{spent:?}");
    // Alice's credential registered again, for bob: refused (a credential has one owner).
    let ceremony = mfa.start_passkey_registration(&bob()).await.unwrap();
    let mut copy = alices.clone_key();
    let credential = copy.register(&ceremony.options, ORIGIN);
    let refused = mfa.finish_passkey_registration(&bob(), ceremony.id, &credential.to_string(), "stolen").await;
    assert!(
        matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("registered already")),
        "{refused:?}"
    );
    assert_eq!(mfa.list_passkeys(&bob()).await.unwrap().len(), 1);
    second_factor(&mfa, &alice(), &mut alices).await.expect("alice's own ceremony works");
}
on_every_backend!(another_users_credential_is_refused_on, another_users_credential);

async fn passwordless(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let mut alices = register(&mfa, &alice(), "Phone").await;
    let mut bobs = register(&mfa, &bob(), "Phone").await;

    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let public_key = &ceremony.options["publicKey"];
    assert!(public_key["allowCredentials"].as_array().is_none_or(Vec::is_empty), "no user is named: {public_key}");
    assert!(ceremony.options.get("mediation").is_none(), "a modal prompt, not autofill");
    let assertion = alices.authenticate(&ceremony.options, ORIGIN);
    assert_eq!(mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await.unwrap(), 41);
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let assertion = bobs.authenticate(&ceremony.options, ORIGIN);
    assert_eq!(mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await.unwrap(), 42);

    // Alice's signature presented with bob's user handle (the handle is not signed).
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let mut forged = alices.clone_key();
    forged.user_handle.clone_from(&bobs.user_handle);
    let assertion = forged.authenticate(&ceremony.options, ORIGIN);
    let refused = mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await;
    assert!(matches!(refused, Err(MfaError::PasskeyRejected(_))), "{refused:?}");
    // A credential nobody registered.
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let mut stranger = SoftAuthenticator::new();
    stranger.user_handle = Some(Uuid::new_v4().as_bytes().to_vec());
    let assertion = stranger.authenticate_for(&ceremony.options, ORIGIN, RP_ID);
    let refused = mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("not registered")), "{refused:?}");
    // Without a user handle (a non-discoverable credential) nobody can be named.
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let mut anonymous = alices.clone_key();
    anonymous.user_handle = None;
    anonymous.counter = 100;
    let assertion = anonymous.authenticate(&ceremony.options, ORIGIN);
    let refused = mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await;
    assert!(matches!(&refused, Err(MfaError::PasskeyRejected(why)) if why.contains("user handle")), "{refused:?}");
    // A sign-in ceremony is not a second factor's, and the other way round.
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let assertion = alices.authenticate(&ceremony.options, ORIGIN);
    let wrong_kind = mfa.verify_passkey(&alice(), ceremony.id, &assertion.to_string()).await;
    assert!(matches!(wrong_kind, Err(MfaError::CeremonyExpired)), "{wrong_kind:?}");
}
on_every_backend!(a_passwordless_sign_in_names_the_passkeys_owner_on, passwordless);

async fn two_instances(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let first = manager::<i64>(t.db.clone(), &logger);
    let second = manager::<i64>(t.connect_again().await, &logger);

    // Registration begun on one instance, finished on the other.
    let mut key = SoftAuthenticator::new();
    let ceremony = first.start_passkey_registration(&alice()).await.unwrap();
    let credential = key.register(&ceremony.options, ORIGIN).to_string();
    second.finish_passkey_registration(&alice(), ceremony.id, &credential, "Phone").await.unwrap();
    // A second factor begun on the second, finished on the first; finishing it again on the
    // second is refused.
    let ceremony = second.start_passkey_authentication(&alice()).await.unwrap();
    let assertion = key.authenticate(&ceremony.options, ORIGIN).to_string();
    first.verify_passkey(&alice(), ceremony.id, &assertion).await.expect("finished on the other instance");
    let again = second.verify_passkey(&alice(), ceremony.id, &assertion).await;
    assert!(matches!(again, Err(MfaError::CeremonyExpired)), "{again:?}");

    // The same answer sent to both instances at once, 10 times: one acceptance each round.
    let first = Arc::new(first);
    let second = Arc::new(second);
    for _ in 0..10 {
        let ceremony = first.start_passkey_authentication(&alice()).await.unwrap();
        let assertion = key.authenticate(&ceremony.options, ORIGIN).to_string();
        let user = alice();
        let (a, b) = tokio::join!(
            first.verify_passkey(&user, ceremony.id, &assertion),
            second.verify_passkey(&user, ceremony.id, &assertion)
        );
        assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "exactly one instance accepts: {a:?} {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(matches!(loser, Err(MfaError::CeremonyExpired | MfaError::PasskeyCounterRegression)), "{loser:?}");
    }
}
on_every_backend!(a_ceremony_is_finished_once_across_instances_on, two_instances);

async fn expired_and_malformed(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let mut key = register(&mfa, &alice(), "Phone").await;

    // An expired ceremony (its row aged in the database) is refused, and removed.
    let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
    let assertion = key.authenticate(&ceremony.options, ORIGIN).to_string();
    let past = match t.db_backend() {
        sea_orm::DatabaseBackend::MySql => "'2000-01-01 00:00:00'",
        _ => "'2000-01-01T00:00:00Z'",
    };
    t.db.execute_raw(Statement::from_string(
        t.db_backend(),
        format!("UPDATE mfa_passkey_ceremonies SET expires_at = {past} WHERE id = '{}'", ceremony.id),
    ))
    .await
    .unwrap();
    let expired = mfa.verify_passkey(&alice(), ceremony.id, &assertion).await;
    assert!(matches!(expired, Err(MfaError::CeremonyExpired)), "{expired:?}");
    // An unknown ceremony.
    let unknown = mfa.verify_passkey(&alice(), Uuid::new_v4(), &assertion).await;
    assert!(matches!(unknown, Err(MfaError::CeremonyExpired)), "{unknown:?}");

    // Hostile input: not JSON, JSON of the wrong shape, standard base64, huge. A clear error,
    // no panic; the ceremony is spent and the passkey untouched.
    let hostile: Vec<String> = vec![
        "not json".to_owned(),
        "{}".to_owned(),
        r#"{"id":"x","rawId":"+/+/","type":"public-key","response":{}}"#.to_owned(),
        serde_json::json!({ "id": "a".repeat(1 << 20) }).to_string(),
    ];
    for input in &hostile {
        let ceremony = mfa.start_passkey_authentication(&alice()).await.unwrap();
        let refused = mfa.verify_passkey(&alice(), ceremony.id, input).await;
        assert!(matches!(refused, Err(MfaError::MalformedCredential(_))), "{refused:?}");
        let again = key.authenticate(&ceremony.options, ORIGIN).to_string();
        assert!(matches!(mfa.verify_passkey(&alice(), ceremony.id, &again).await, Err(MfaError::CeremonyExpired)));
    }
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let refused = mfa.finish_passkey_registration(&alice(), ceremony.id, "[1,2]", "Key").await;
    assert!(matches!(refused, Err(MfaError::MalformedCredential(_))), "{refused:?}");
    // A name out of bounds is refused before the ceremony is touched.
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    let mut other = SoftAuthenticator::new();
    let credential = other.register(&ceremony.options, ORIGIN).to_string();
    let long = "n".repeat(101);
    for name in ["", "  ", long.as_str(), "bad\u{0}name", "\u{202E}gnp.exe", "a\u{2066}b\u{2069}"] {
        let refused = mfa.finish_passkey_registration(&alice(), ceremony.id, &credential, name).await;
        assert!(matches!(refused, Err(MfaError::InvalidInput(_))), "{name:?}: {refused:?}");
    }
    mfa.finish_passkey_registration(&alice(), ceremony.id, &credential, "Key").await.expect("still open");
    second_factor(&mfa, &alice(), &mut key).await.expect("the first passkey still works");

    // No ceremony is left behind by the expired ones above once the next begins.
    let _ = mfa.start_passkey_sign_in().await.unwrap();
    let left =
        t.db.query_one_raw(Statement::from_string(
            t.db_backend(),
            "SELECT COUNT(*) AS n FROM mfa_passkey_ceremonies WHERE expires_at < '2001-01-01'".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.try_get::<i64>("", "n").unwrap(), 0);
}
on_every_backend!(expired_and_malformed_input_is_refused_on, expired_and_malformed);

/// Passkeys for users keyed by UUID, in tables created for that key type.
async fn uuid_users(t: &TestDb) {
    // Every MFA table keyed by UUIDs, as an application with UUID users has them.
    let manager_schema = SchemaManager::new(&t.db);
    CreateMfaTables::default().passkeys().down(&manager_schema).await.unwrap();
    CreateMfaTables::default().down(&manager_schema).await.unwrap();
    CreateMfaTables::with_user_id(MfaUserIdColumn::Uuid).up(&manager_schema).await.unwrap();
    CreateMfaTables::with_user_id(MfaUserIdColumn::Uuid).passkeys().up(&manager_schema).await.unwrap();
    AddMfaThrottleHardLock.up(&manager_schema).await.unwrap();
    AddMfaThrottleKnownSources.up(&manager_schema).await.unwrap();
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<Uuid>(t.db.clone(), &logger);
    let carol = MfaAccount::new(Uuid::from_u128(0xca201), "carol@example.com");
    let mut key = register(&mfa, &carol, "Phone").await;
    second_factor(&mfa, &carol, &mut key).await.unwrap();
    let ceremony = mfa.start_passkey_sign_in().await.unwrap();
    let assertion = key.authenticate(&ceremony.options, ORIGIN);
    assert_eq!(mfa.finish_passkey_sign_in(ceremony.id, &assertion.to_string()).await.unwrap(), carol.id);
}
on_every_backend!(uuid_keyed_users_on, uuid_users);

#[tokio::test]
async fn without_a_relying_party_passkeys_are_off() {
    let Some(t) = TestDb::new(integration_tests::Backend::Sqlite).await else { return };
    let cipher = SecretCipher::new(EncryptionKey::new("k1", [7; 32]).unwrap());
    let mfa = MfaManager::<i64>::new(t.db.clone(), MfaConfig::default(), cipher).unwrap();
    assert!(!mfa.passkeys_enabled());
    assert!(matches!(mfa.start_passkey_registration(&alice()).await, Err(MfaError::PasskeysDisabled)));
    assert!(matches!(mfa.start_passkey_sign_in().await, Err(MfaError::PasskeysDisabled)));
    let refused: Value = serde_json::json!({});
    assert!(matches!(
        mfa.finish_passkey_sign_in(Uuid::new_v4(), &refused.to_string()).await,
        Err(MfaError::PasskeysDisabled)
    ));
    t.cleanup().await;
}

/// The dashboard's adoption card counts passkey users, and a user with a passkey and a TOTP
/// device once.
async fn adoption_counts_passkeys(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    register(&mfa, &alice(), "Phone").await;
    register(&mfa, &bob(), "Phone").await;
    register(&mfa, &bob(), "Key").await;
    let setup = mfa.setup_totp_device(&alice(), "App").await.unwrap();
    assert!(mfa.verify_totp_code(&alice(), &integration_tests::totp_now(&setup.secret, 0)).await.unwrap());
    let adoption = rail_graphql_security::mfa::adoption(&t.db).await.unwrap();
    assert_eq!(adoption.users_enrolled, 2);
    let by_method: Vec<(&str, u64)> = adoption.by_method.iter().map(|m| (m.method.as_str(), m.users)).collect();
    assert_eq!(by_method, [("passkey", 2), ("totp", 1)]);
}
on_every_backend!(adoption_counts_passkey_users_on, adoption_counts_passkeys);

/// A passkey registered as the user's first factor drops what was enrolled without a step-up
/// before it: the unconfirmed TOTP device, another passkey registration under way, and the
/// backup codes made before it (anyone with the password could have made them all).
async fn a_first_passkey_drops_the_enrolments_started_before_it(t: &TestDb) {
    let (logger, _sink) = capturing_logger();
    let mfa = manager::<i64>(t.db.clone(), &logger);
    let setup = mfa.setup_totp_device(&alice(), "someone's app").await.unwrap();
    mfa.generate_backup_codes(&alice()).await.unwrap();
    let pending = mfa.start_passkey_registration(&alice()).await.unwrap();
    let mut other = SoftAuthenticator::new();
    let pending_credential = other.register(&pending.options, ORIGIN);

    register(&mfa, &alice(), "Phone").await;
    assert!(mfa.list_devices(&alice()).await.unwrap().is_empty(), "the unconfirmed TOTP device is gone");
    assert_eq!(mfa.remaining_backup_codes(&alice()).await.unwrap(), 0, "the codes made before it are gone");
    assert!(
        !mfa.verify_totp_code(&alice(), &integration_tests::totp_now(&setup.secret, 0)).await.unwrap_or(false),
        "the dropped device's code passes nothing"
    );
    let finished = mfa.finish_passkey_registration(&alice(), pending.id, &pending_credential.to_string(), "Key").await;
    assert!(matches!(finished, Err(MfaError::CeremonyExpired)), "{finished:?}");
    assert_eq!(mfa.list_passkeys(&alice()).await.unwrap().len(), 1);
    // Codes made now, with a factor that counts, are kept.
    mfa.generate_backup_codes(&alice()).await.unwrap();
    assert_eq!(mfa.remaining_backup_codes(&alice()).await.unwrap(), 10);
}
on_every_backend!(
    a_first_passkey_drops_the_enrolments_started_before_it_on,
    a_first_passkey_drops_the_enrolments_started_before_it
);
