//! The scenarios, generic over the generated key cases of `security_user.rs`.

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, EmptySubscription, ObjectType, Request, Schema};
use chrono::Utc;
use integration_tests::{Backend, TestDb, totp_now};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::mfa::graphql::{MfaHook, SecondFactorHook, SecondFactorPassed};
use rail_graphql_security::mfa::{
    BackupCodeHashing, EncryptionKey, MfaConfig, MfaManager, MfaMethod, MfaUser, MfaUserId, PasskeyConfig, SecretCipher,
};
use rail_graphql_security::migration::{
    ColumnDef, DeriveIden, MfaUserIdColumn, MigrationTrait, Migrator, MigratorTrait, SchemaManager, Table,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde_json::{Value, json};

/// One generated `#[security_user]` module.
pub(crate) trait KeyCase {
    type Id: MfaUserId + FromStr + Debug + PartialEq;
    type Query: ObjectType + Default + 'static;
    type Mutation: ObjectType + Default + 'static;
    type User: MfaUser<Id = Self::Id>;
    const COLUMN: MfaUserIdColumn;
    fn sample(n: u32) -> Self::Id;
    fn migrations() -> Vec<Box<dyn MigrationTrait>>;
    async fn insert(db: &DatabaseConnection, id: Self::Id, name: &str) -> Self::User;
    async fn delete(db: &DatabaseConnection, id: Self::Id) -> Result<u64, DbErr>;
    /// Every row of the MFA tables, read through the generated entities.
    async fn entity_rows(db: &DatabaseConnection) -> EntityRows<Self::Id>;
    /// Devices reached through the generated relation from the user.
    async fn related_devices(db: &DatabaseConnection, user: &Self::User) -> usize;
    /// (user_id, name) of the passkeys reached through the generated relation from the user.
    async fn passkeys(db: &DatabaseConnection, user: &Self::User) -> Vec<(Self::Id, String)>;
}

/// The MFA tables as the generated entities read them.
pub(crate) struct EntityRows<Id> {
    /// id, user_id, confirmed, secret_key, Debug output.
    pub(crate) devices: Vec<(String, Id, bool, Option<String>, String)>,
    pub(crate) backup_codes: usize,
    /// user_id, token_hash.
    pub(crate) trusted: Vec<(Id, String)>,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
}

/// The application's own users table, keyed by the case's type.
async fn create_users(db: &DatabaseConnection, column: MfaUserIdColumn) {
    let mut id = ColumnDef::new(Users::Id);
    match column {
        MfaUserIdColumn::Integer => id.integer(),
        MfaUserIdColumn::BigInteger => id.big_integer(),
        MfaUserIdColumn::Uuid => id.uuid(),
        MfaUserIdColumn::String => id.string_len(191),
    };
    SchemaManager::new(db)
        .create_table(
            Table::create()
                .table(Users::Table)
                .col(id.not_null().primary_key())
                .col(ColumnDef::new(Users::Username).string_len(100).not_null())
                .to_owned(),
        )
        .await
        .expect("create users");
}

/// One hook call: user id, method, trusted device.
type HookCall = (String, &'static str, bool);

/// Records every call and answers `hook-token-N`.
#[derive(Clone, Default)]
pub(crate) struct Hook(Arc<Mutex<Vec<HookCall>>>);

#[async_trait::async_trait]
impl SecondFactorHook for Hook {
    async fn on_second_factor(
        &self,
        _: &Context<'_>,
        passed: &SecondFactorPassed,
    ) -> async_graphql::Result<Option<String>> {
        assert_eq!(passed.mfa_state().level, rail_graphql_security::context::MfaLevel::Verified);
        let mut calls = self.0.lock().unwrap();
        calls.push((passed.principal.id.clone(), passed.method.as_str(), passed.trusted_device));
        Ok(Some(format!("hook-token-{}", calls.len())))
    }
}

impl Hook {
    fn calls(&self) -> Vec<HookCall> {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) struct Env<C: KeyCase> {
    t: TestDb,
    schema: Schema<C::Query, C::Mutation, EmptySubscription>,
    manager: MfaManager<C::Id>,
    hook: Hook,
}

async fn env<C: KeyCase>(backend: Backend) -> Option<Env<C>> {
    env_with::<C>(backend, |m| m).await
}

async fn env_with<C: KeyCase>(
    backend: Backend,
    configure: impl FnOnce(MfaManager<C::Id>) -> MfaManager<C::Id>,
) -> Option<Env<C>> {
    let t = TestDb::new(backend).await?;
    // The test database comes with the default security tables: replace them by the user's set-up.
    Migrator::down(&t.db, None).await.expect("drop the default security tables");
    create_users(&t.db, C::COLUMN).await;
    let schema_manager = SchemaManager::new(&t.db);
    for migration in C::migrations() {
        migration.up(&schema_manager).await.expect("generated migration runs");
    }
    let config = MfaConfig {
        backup_code_hashing: BackupCodeHashing { memory_kib: 256, iterations: 1 },
        passkeys: PasskeyConfig::new("example.com", [PASSKEY_ORIGIN]),
        ..Default::default()
    };
    let cipher = SecretCipher::new(EncryptionKey::new("k1", [7; 32]).unwrap());
    let manager = configure(MfaManager::<C::Id>::new(t.db.clone(), config, cipher).unwrap());
    let hook = Hook::default();
    let schema = Schema::build(C::Query::default(), C::Mutation::default(), EmptySubscription)
        .data(manager.clone())
        .data(MfaHook::new(hook.clone()))
        .finish();
    Some(Env { t, schema, manager, hook })
}

fn password_session(id: &impl MfaUserId) -> SecurityContext {
    SecurityContext::authenticated(Principal::new(id.to_key(), "alice"))
        .with_user_agent(Some("TestAgent/1.0".to_owned()))
}

fn verified_session(id: &impl MfaUserId) -> SecurityContext {
    password_session(id).with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp))
}

impl<C: KeyCase> Env<C> {
    async fn run(&self, session: Option<SecurityContext>, query: &str) -> Value {
        let mut request = Request::new(query);
        if let Some(session) = session {
            request = request.data(session);
        }
        serde_json::to_value(self.schema.execute(request).await).unwrap()
    }

    async fn ok(&self, session: Option<SecurityContext>, query: &str) -> Value {
        let response = self.run(session, query).await;
        assert!(response.get("errors").is_none(), "{query} failed: {response}");
        response["data"].clone()
    }

    async fn error_code(&self, session: Option<SecurityContext>, query: &str) -> String {
        let response = self.run(session, query).await;
        response["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{query} should fail with a code: {response}"))
            .to_owned()
    }
}

const SETUP_TOTP: &str =
    r#"mutation { setupTotp(deviceName: "Phone") { success deviceId secretKey qrCodeUrl otpauthUri backupCodes } }"#;
const DEVICES: &str = "{ mfaDevices { id deviceType name isActive isPrimary confirmed createdAt lastUsed } }";

/// setupTotp → verifyTotp (hook, token, trusted device) → replay refused → backup code once →
/// trusted device list/revoke → removeMfaDevice → disableMfa; no secret in later responses.
pub(crate) async fn full_flow<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let id = C::sample(1);
    let user = C::insert(&env.t.db, id.clone(), "alice").await;
    let mut responses = Vec::new();

    assert_eq!(env.error_code(None, "{ mfaStatus { enabled } }").await, "UNAUTHENTICATED");
    let status = env.ok(Some(password_session(&id)), "{ mfaStatus { enabled methods sessionVerified } }").await;
    assert_eq!(status["mfaStatus"], json!({ "enabled": false, "methods": [], "sessionVerified": false }));

    let setup = env.ok(Some(password_session(&id)), SETUP_TOTP).await["setupTotp"].clone();
    let secret = setup["secretKey"].as_str().unwrap().to_owned();
    assert_eq!(setup["success"], true);
    assert!(setup["qrCodeUrl"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert!(setup["otpauthUri"].as_str().unwrap().contains(&format!("secret={secret}")));
    let backup_codes: Vec<String> =
        setup["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(backup_codes.len(), 10);
    assert_eq!(C::related_devices(&env.t.db, &user).await, 1, "the device is reachable through the relation");

    let devices = env.ok(Some(password_session(&id)), DEVICES).await;
    responses.push(devices.to_string());
    assert_eq!(devices["mfaDevices"][0]["deviceType"], "TOTP");
    assert_eq!(devices["mfaDevices"][0]["confirmed"], false);
    let device_id = devices["mfaDevices"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(device_id, setup["deviceId"].as_str().unwrap());

    let code = totp_now(&secret, 0);
    let verify =
        format!(r#"mutation {{ verifyTotp(code: "{code}", trustDevice: true) {{ success deviceId token }} }}"#);
    let verified = env.ok(Some(password_session(&id)), &verify).await["verifyTotp"].clone();
    responses.push(verified.to_string());
    assert_eq!(verified["success"], true);
    assert_eq!(verified["token"], "hook-token-1");
    let trusted_token = verified["deviceId"].as_str().unwrap().to_owned();
    assert!(trusted_token.len() >= 40, "a trusted-device token: {trusted_token}");
    assert_eq!(env.hook.calls(), vec![(id.to_key(), "totp", true)]);
    assert!(
        env.manager.verify_trusted_device(&user, &trusted_token).await.unwrap(),
        "the token is the trusted device's"
    );
    assert!(!env.manager.verify_trusted_device(&user, "not-the-token").await.unwrap());

    // The generated entities read what the runtime wrote, with the user's key type.
    let rows = C::entity_rows(&env.t.db).await;
    assert_eq!(rows.devices.len(), 1);
    let (row_id, row_user, confirmed, sealed, debug) = &rows.devices[0];
    assert_eq!((row_id.as_str(), row_user, *confirmed), (device_id.as_str(), &id, true));
    let sealed = sealed.as_deref().expect("the secret is stored, encrypted");
    assert!(!sealed.contains(&secret), "stored encrypted");
    assert!(!debug.contains(sealed), "Debug of the entity hides the secret: {debug}");
    assert_eq!(rows.backup_codes, 10);
    assert_eq!(rows.trusted.len(), 1);
    assert_eq!(rows.trusted[0].0, id);
    assert!(!rows.trusted[0].1.contains(&trusted_token), "only a hash of the token is stored");

    // The same code again: refused, and the hook is not called.
    assert_eq!(env.error_code(Some(password_session(&id)), &verify).await, "INVALID_CODE");
    assert_eq!(env.hook.calls().len(), 1);

    let status = env
        .ok(
            Some(verified_session(&id)),
            "{ mfaStatus { enabled required methods backupCodesRemaining trustedDevices sessionVerified } }",
        )
        .await;
    assert_eq!(
        status["mfaStatus"],
        json!({ "enabled": true, "required": true, "methods": ["totp", "backup_code"], "backupCodesRemaining": 10, "trustedDevices": 1, "sessionVerified": true })
    );

    // A backup code works once and only once.
    let use_code = format!(
        r#"mutation {{ verifyBackupCode(code: "{}") {{ success token remainingBackupCodes }} }}"#,
        backup_codes[0]
    );
    let used = env.ok(Some(password_session(&id)), &use_code).await["verifyBackupCode"].clone();
    assert_eq!(used, json!({ "success": true, "token": "hook-token-2", "remainingBackupCodes": 9 }));
    assert_eq!(env.hook.calls()[1], (id.to_key(), "backup_code", false));
    assert_eq!(env.error_code(Some(password_session(&id)), &use_code).await, "INVALID_CODE");

    // Trusted devices: listed without their token, revoked once.
    let trusted = env.ok(Some(verified_session(&id)), "{ trustedDevices { id deviceName userAgent expiresAt } }").await;
    responses.push(trusted.to_string());
    assert_eq!(trusted["trustedDevices"][0]["deviceName"], "TestAgent/1.0");
    let trusted_id = trusted["trustedDevices"][0]["id"].as_str().unwrap().to_owned();
    let revoke = format!(r#"mutation {{ revokeTrustedDevice(id: "{trusted_id}") {{ success }} }}"#);
    assert_eq!(env.ok(Some(verified_session(&id)), &revoke).await["revokeTrustedDevice"]["success"], true);
    assert_eq!(env.error_code(Some(verified_session(&id)), &revoke).await, "NOT_FOUND");
    assert!(!env.manager.verify_trusted_device(&user, &trusted_token).await.unwrap(), "revoked");

    // Removing the device needs the verified session; then it is inactive.
    let remove = format!(r#"mutation {{ removeMfaDevice(id: "{device_id}") {{ success }} }}"#);
    assert_eq!(env.error_code(Some(password_session(&id)), &remove).await, "MFA_REQUIRED");
    assert_eq!(env.ok(Some(verified_session(&id)), &remove).await["removeMfaDevice"]["success"], true);
    let devices = env.ok(Some(verified_session(&id)), DEVICES).await;
    responses.push(devices.to_string());
    assert_eq!(devices["mfaDevices"][0]["isActive"], false);

    assert_eq!(
        env.ok(Some(verified_session(&id)), "mutation { disableMfa { success } }").await["disableMfa"]["success"],
        true
    );
    let status =
        env.ok(Some(password_session(&id)), "{ mfaStatus { enabled backupCodesRemaining trustedDevices } }").await;
    assert_eq!(status["mfaStatus"], json!({ "enabled": false, "backupCodesRemaining": 0, "trustedDevices": 0 }));

    for response in &responses {
        assert!(!response.contains(&secret), "the TOTP secret leaked: {response}");
        assert!(!response.contains(&backup_codes[1]), "a backup code leaked: {response}");
    }
    assert!(!responses[2].contains(&trusted_token), "the trusted-device token is never listed");
    env.t.cleanup().await;
}

async fn enrolled<C: KeyCase>(env: &Env<C>, id: &C::Id) {
    let setup = env.ok(Some(password_session(id)), SETUP_TOTP).await;
    let code = totp_now(setup["setupTotp"]["secretKey"].as_str().unwrap(), 0);
    env.ok(
        Some(password_session(id)),
        &format!(r#"mutation {{ verifyTotp(code: "{code}", trustDevice: true) {{ success }} }}"#),
    )
    .await;
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// The generated foreign keys cascade (the default): deleting the user deletes its MFA rows.
pub(crate) async fn delete_user_cascades<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let (alice, bob) = (C::sample(1), C::sample(2));
    C::insert(&env.t.db, alice.clone(), "alice").await;
    C::insert(&env.t.db, bob.clone(), "bob").await;
    enrolled(&env, &alice).await;
    enrolled(&env, &bob).await;
    assert_eq!(count(&env.t.db, "mfa_devices").await, 2);
    assert_eq!(count(&env.t.db, "mfa_backup_codes").await, 20);
    assert_eq!(C::delete(&env.t.db, alice).await.unwrap(), 1);
    assert_eq!(count(&env.t.db, "mfa_devices").await, 1, "alice's device went with her");
    assert_eq!(count(&env.t.db, "mfa_backup_codes").await, 10);
    assert_eq!(count(&env.t.db, "trusted_devices").await, 1);
    // And the foreign key refuses MFA rows for users that do not exist.
    let ghost = password_session(&C::sample(99));
    assert_eq!(env.error_code(Some(ghost), SETUP_TOTP).await, "INTERNAL_ERROR");
    assert_eq!(count(&env.t.db, "mfa_devices").await, 1);
    env.t.cleanup().await;
}

/// With `on_delete = "restrict"`, deleting a user who has MFA rows fails and changes nothing.
pub(crate) async fn delete_user_restricted<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let alice = C::sample(1);
    C::insert(&env.t.db, alice.clone(), "alice").await;
    enrolled(&env, &alice).await;
    assert!(C::delete(&env.t.db, alice.clone()).await.is_err(), "the foreign key refuses the delete");
    assert_eq!(count(&env.t.db, "users").await, 1);
    env.ok(Some(verified_session(&alice)), "mutation { disableMfa { success } }").await;
    // Disabled devices stay (inactive, secrets erased) and still hold the user: remove them first.
    env.t.db.execute_unprepared("DELETE FROM mfa_devices").await.unwrap();
    env.t.db.execute_unprepared("DELETE FROM mfa_throttle").await.unwrap();
    assert_eq!(C::delete(&env.t.db, alice).await.unwrap(), 1);
    env.t.cleanup().await;
}

/// A stolen password alone cannot add, replace or remove the factors of a user who has one.
pub(crate) async fn step_up_required<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let id = C::sample(1);
    C::insert(&env.t.db, id.clone(), "alice").await;
    enrolled(&env, &id).await;
    let devices = env.ok(Some(password_session(&id)), DEVICES).await;
    let device_id = devices["mfaDevices"][0]["id"].as_str().unwrap().to_owned();
    for mutation in [
        SETUP_TOTP.to_owned(),
        r#"mutation { setupSms(phoneNumber: "+14155550123", deviceName: "p") { success } }"#.to_owned(),
        "mutation { generateBackupCodes { backupCodes } }".to_owned(),
        format!(r#"mutation {{ removeMfaDevice(id: "{device_id}") {{ success }} }}"#),
        "mutation { disableMfa { success } }".to_owned(),
    ] {
        let response = env.run(Some(password_session(&id)), &mutation).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], "MFA_REQUIRED", "{mutation}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]));
    }
    let after = env.ok(Some(password_session(&id)), DEVICES).await;
    assert_eq!(after, devices, "nothing changed");
    // A verified session may.
    let codes = env.ok(Some(verified_session(&id)), "mutation { generateBackupCodes { backupCodes } }").await;
    assert_eq!(codes["generateBackupCodes"]["backupCodes"].as_array().unwrap().len(), 10);
    env.t.cleanup().await;
}

/// Users only see and change their own devices; sessions whose id is not a key are refused.
pub(crate) async fn isolation_and_authentication<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let (alice, bob) = (C::sample(1), C::sample(2));
    C::insert(&env.t.db, alice.clone(), "alice").await;
    C::insert(&env.t.db, bob.clone(), "bob").await;
    enrolled(&env, &alice).await;
    let devices = env.ok(Some(password_session(&alice)), DEVICES).await;
    let device_id = devices["mfaDevices"][0]["id"].as_str().unwrap().to_owned();
    let trusted = env.ok(Some(password_session(&alice)), "{ trustedDevices { id } }").await;
    let trusted_id = trusted["trustedDevices"][0]["id"].as_str().unwrap().to_owned();

    assert_eq!(env.ok(Some(password_session(&bob)), DEVICES).await["mfaDevices"], json!([]));
    let remove = format!(r#"mutation {{ removeMfaDevice(id: "{device_id}") {{ success }} }}"#);
    assert_eq!(env.error_code(Some(verified_session(&bob)), &remove).await, "NOT_FOUND");
    let revoke = format!(r#"mutation {{ revokeTrustedDevice(id: "{trusted_id}") {{ success }} }}"#);
    assert_eq!(env.error_code(Some(verified_session(&bob)), &revoke).await, "NOT_FOUND");
    assert_eq!(env.ok(Some(password_session(&alice)), DEVICES).await, devices, "alice's device is untouched");
    assert_eq!(
        env.error_code(Some(verified_session(&bob)), r#"mutation { removeMfaDevice(id: "nope") { success } }"#).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        env.error_code(Some(password_session(&bob)), r#"mutation { verifyTotp(code: "123456") { success } }"#).await,
        "MFA_NOT_SET_UP"
    );
    assert_eq!(
        env.error_code(Some(password_session(&bob)), r#"mutation { setupTotp(deviceName: "") { success } }"#).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(env.error_code(None, "mutation { disableMfa { success } }").await, "UNAUTHENTICATED");
    assert_eq!(env.error_code(Some(SecurityContext::anonymous()), DEVICES).await, "UNAUTHENTICATED");
    env.t.cleanup().await;
}

/// `IssueTokenHook`: the `token` of a successful second factor is a real token of the
/// `TokenService` for the same user, carrying the MFA level, method and time, in the caller's
/// session (so logging out that session ends it). The first factor, passed in a session that
/// listed none, ends every token issued to the user before it; a later factor ends none.
pub(crate) async fn issue_token_hook<C: KeyCase>(backend: Backend) {
    use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenError, TokenService};
    use rail_graphql_security::context::MfaLevel;
    use rail_graphql_security::mfa::graphql::IssueTokenHook;

    let Some(env) = env::<C>(backend).await else { return };
    let tokens = TokenService::new(
        TokenConfig::new("a-test-signing-secret-of-at-least-32-bytes!!").unwrap(),
        RevocationStore::memory(),
    );
    let schema = Schema::build(C::Query::default(), C::Mutation::default(), EmptySubscription)
        .data(env.manager.clone())
        .data(MfaHook::new(IssueTokenHook(tokens.clone())))
        .finish();
    let id = C::sample(1);
    C::insert(&env.t.db, id.clone(), "alice").await;
    let run = |query: String| {
        let schema = schema.clone();
        let mut session = password_session(&id);
        session.session_id = Some("login-session-1".to_owned());
        async move { serde_json::to_value(schema.execute(Request::new(query).data(session)).await).unwrap() }
    };
    // A login taken with the password before the enrolment (another session).
    let principal = Principal::new(id.to_key(), "alice");
    let earlier = tokens.issue(&principal, &MfaState::none(), None).unwrap().token;
    tokens.verify(&earlier, None).await.expect("a full session before the enrolment");
    let setup = run(SETUP_TOTP.to_owned()).await;
    let secret = setup["data"]["setupTotp"]["secretKey"].as_str().unwrap().to_owned();
    let code = totp_now(&secret, 0);
    let before = Utc::now().timestamp();
    let verified = run(format!(r#"mutation {{ verifyTotp(code: "{code}") {{ success deviceId token }} }}"#)).await;
    assert!(verified.get("errors").is_none(), "{verified}");
    assert_eq!(verified["data"]["verifyTotp"]["deviceId"], Value::Null, "no trusted device unless asked");
    let token = verified["data"]["verifyTotp"]["token"].as_str().expect("a token");
    let claims = tokens.verify(token, None).await.expect("a valid token of the service");
    assert_eq!(claims.sub, id.to_key());
    let state = claims.mfa_state();
    assert_eq!(state.level, MfaLevel::Verified);
    assert_eq!(state.method, Some(MfaMethod::Totp));
    assert!(state.verified_at.unwrap().timestamp() >= before);
    assert_eq!(claims.enrolled_methods(), [MfaMethod::Totp], "the token lists the factor just enrolled");
    assert_eq!(claims.session_id(), "login-session-1", "the step-up token belongs to the caller's login");
    assert!(
        matches!(tokens.verify(&earlier, None).await, Err(TokenError::Revoked)),
        "a token issued before the first factor outlived it"
    );

    // A factor passed in a session that lists one ends no other session.
    let other = tokens.issue_with_methods(&principal, &MfaState::none(), &[MfaMethod::Totp], None).unwrap().token;
    let listed = password_session(&id).with_mfa_methods([MfaMethod::Totp]);
    let code = totp_now(&secret, 1);
    let again = schema
        .execute(Request::new(format!(r#"mutation {{ verifyTotp(code: "{code}") {{ token }} }}"#)).data(listed))
        .await;
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    tokens.verify(&other, None).await.expect("a later factor ends no other session");

    assert!(tokens.revoke_session(&claims.principal(), "login-session-1", None).await.unwrap());
    assert!(matches!(tokens.verify(token, None).await, Err(TokenError::Revoked)));
    // A wrong code issues nothing.
    let wrong = run(r#"mutation { verifyTotp(code: "000000") { token } }"#.to_owned()).await;
    assert_eq!(wrong["data"], Value::Null, "{wrong}");
    env.t.cleanup().await;
}

/// Keeps the SMS messages "sent" (the test's phone).
#[derive(Debug, Clone, Default)]
struct Phone(Arc<Mutex<Vec<(String, String)>>>);

#[async_trait::async_trait]
impl rail_graphql_security::mfa::sms::SmsProvider for Phone {
    fn name(&self) -> &'static str {
        "test-phone"
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), rail_graphql_security::mfa::sms::SmsError> {
        self.0.lock().unwrap().push((to.to_owned(), body.to_owned()));
        Ok(())
    }
}

impl Phone {
    fn last_code(&self) -> String {
        let messages = self.0.lock().unwrap();
        let (_, body) = messages.last().expect("an SMS was sent");
        body.split(|c: char| !c.is_ascii_digit()).find(|part| part.len() == 6).expect("a 6-digit code").to_owned()
    }
}

/// setupSms → the code arrives → verifySms (hook, once) → resend throttled; bad numbers refused.
pub(crate) async fn sms_flow<C: KeyCase>(backend: Backend) {
    let phone = Phone::default();
    let provider = phone.clone();
    let Some(env) = env_with::<C>(backend, |m| m.with_sms_provider(provider).unwrap()).await else { return };
    let id = C::sample(1);
    C::insert(&env.t.db, id.clone(), "alice").await;
    let session = || Some(password_session(&id));

    assert_eq!(
        env.error_code(session(), r#"mutation { setupSms(phoneNumber: "555-0123", deviceName: "Phone") { success } }"#)
            .await,
        "INVALID_PHONE_NUMBER"
    );
    let setup = env
        .ok(
            session(),
            r#"mutation { setupSms(phoneNumber: "+14155550123", deviceName: "Phone") { success deviceId } }"#,
        )
        .await;
    assert_eq!(setup["setupSms"]["success"], true);
    assert_eq!(phone.0.lock().unwrap()[0].0, "+14155550123");
    let code = phone.last_code();
    let verify = format!(r#"mutation {{ verifySms(code: "{code}") {{ success token }} }}"#);
    assert_eq!(env.ok(session(), &verify).await["verifySms"], json!({ "success": true, "token": "hook-token-1" }));
    assert_eq!(env.hook.calls(), vec![(id.to_key(), "sms", false)]);
    assert_eq!(env.error_code(session(), &verify).await, "INVALID_CODE", "an SMS code works once");

    let resend = env.run(session(), "mutation { sendSmsCode { success } }").await;
    assert_eq!(resend["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{resend}");
    assert!(resend["errors"][0]["extensions"]["retryAfter"].as_i64().unwrap() >= 1);
    let devices = env.ok(session(), DEVICES).await;
    assert_eq!(devices["mfaDevices"][0]["deviceType"], "SMS");
    let hint = env.ok(session(), "{ mfaDevices { phoneNumberHint } }").await;
    let hint = hint["mfaDevices"][0]["phoneNumberHint"].as_str().unwrap().to_owned();
    assert!(hint.ends_with("23") && hint.contains('*') && !hint.contains("4155550"), "only a hint: {hint}");
    env.t.cleanup().await;
}

/// Guessing is throttled through the API too: `MFA_LOCKED` with `retryAfter`, and while locked
/// even the right code is refused (and the hook is not called).
pub(crate) async fn guessing_locks_out<C: KeyCase>(backend: Backend) {
    let Some(env) = env::<C>(backend).await else { return };
    let id = C::sample(1);
    C::insert(&env.t.db, id.clone(), "alice").await;
    let setup = env.ok(Some(password_session(&id)), SETUP_TOTP).await;
    let secret = setup["setupTotp"]["secretKey"].as_str().unwrap().to_owned();
    let mut locked = None;
    for attempt in 0..12 {
        let guess = format!("{:06}", (attempt * 7919) % 1_000_000);
        if guess == totp_now(&secret, 0) || guess == totp_now(&secret, -1) || guess == totp_now(&secret, 1) {
            continue;
        }
        let query = format!(r#"mutation {{ verifyTotp(code: "{guess}") {{ success }} }}"#);
        let response = env.run(Some(password_session(&id)), &query).await;
        match response["errors"][0]["extensions"]["code"].as_str() {
            Some("INVALID_CODE") => {}
            Some("MFA_LOCKED") => {
                locked = Some(response["errors"][0]["extensions"].clone());
                break;
            }
            _ => panic!("unexpected answer to a wrong code: {response}"),
        }
    }
    let locked = locked.expect("wrong codes end in MFA_LOCKED");
    assert!(locked["retryAfter"].as_i64().unwrap() >= 1, "{locked}");
    assert!(chrono::DateTime::parse_from_rfc3339(locked["lockedUntil"].as_str().unwrap()).is_ok());
    let right = format!(r#"mutation {{ verifyTotp(code: "{}") {{ success }} }}"#, totp_now(&secret, 0));
    assert_eq!(env.error_code(Some(password_session(&id)), &right).await, "MFA_LOCKED");
    assert!(env.hook.calls().is_empty());
    env.t.cleanup().await;
}

const PASSKEY_ORIGIN: &str = "https://app.example.com";

/// Passkeys through the generated API, in the generated `mfa_passkeys` table (`user_id` of the
/// key's type, a foreign key to the users): registered and used by one user, read through the
/// generated entity and relation, and deleted with the user (cascade).
pub(crate) async fn passkeys_in_the_generated_tables<C: KeyCase>(backend: Backend) {
    use integration_tests::authenticator::SoftAuthenticator;
    let Some(env) = env::<C>(backend).await else { return };
    let (alice, bob) = (C::sample(1), C::sample(2));
    let alice_model = C::insert(&env.t.db, alice.clone(), "alice").await;
    C::insert(&env.t.db, bob.clone(), "bob").await;
    let mut key = SoftAuthenticator::new();
    let begun =
        env.ok(Some(password_session(&alice)), "mutation { beginPasskeyRegistration { ceremonyId options } }").await;
    let ceremony = begun["beginPasskeyRegistration"]["ceremonyId"].as_str().unwrap().to_owned();
    let credential = key.register(&begun["beginPasskeyRegistration"]["options"], PASSKEY_ORIGIN).to_string();
    let finish = format!(
        "mutation {{ finishPasskeyRegistration(ceremonyId: \"{ceremony}\", credential: {}, name: \"Laptop\") {{ passkey {{ id }} }} }}",
        serde_json::to_string(&credential).unwrap()
    );
    env.ok(Some(password_session(&alice)), &finish).await;
    assert_eq!(C::passkeys(&env.t.db, &alice_model).await, [(alice.clone(), "Laptop".to_owned())]);
    // The passkey passes alice's second factor, not bob's.
    for (user, accepted) in [(&alice, true), (&bob, false)] {
        let begun = env
            .run(Some(password_session(user)), "mutation { beginPasskeyAuthentication { ceremonyId options } }")
            .await;
        if !accepted {
            assert_eq!(begun["errors"][0]["extensions"]["code"], "MFA_NOT_SET_UP", "{begun}");
            continue;
        }
        let ceremony = begun["data"]["beginPasskeyAuthentication"]["ceremonyId"].as_str().unwrap().to_owned();
        let assertion =
            key.authenticate(&begun["data"]["beginPasskeyAuthentication"]["options"], PASSKEY_ORIGIN).to_string();
        let verify = format!(
            "mutation {{ verifyPasskey(ceremonyId: \"{ceremony}\", credential: {}) {{ success }} }}",
            serde_json::to_string(&assertion).unwrap()
        );
        env.ok(Some(password_session(user)), &verify).await;
    }
    // Deleting the user deletes the passkey (the generated foreign key cascades).
    assert_eq!(count(&env.t.db, "mfa_passkeys").await, 1);
    assert_eq!(C::delete(&env.t.db, alice).await.unwrap(), 1);
    assert_eq!(count(&env.t.db, "mfa_passkeys").await, 0, "alice's passkey went with her");
    env.t.cleanup().await;
}

/// Found by an attack over HTTP: the sessions begun before the user's first factor were ended
/// by the hook after the confirmation's commit, in the request's future, so a client that
/// closed its connection in between (hyper then drops the future) kept them alive, and a retry
/// could not help (the factor already counted). `on_first_factor` now runs in a task of its
/// own with the check: here the request is dropped while the hook waits, and the hook still
/// finishes.
pub(crate) async fn first_factor_hook_outlives_a_dropped_request<C: KeyCase>(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::sync::Notify;

    #[derive(Clone, Default)]
    struct Blocking {
        entered: Arc<Notify>,
        release: Arc<Notify>,
        done: Arc<AtomicBool>,
    }
    #[async_trait::async_trait]
    impl SecondFactorHook for Blocking {
        async fn on_second_factor(
            &self,
            _: &Context<'_>,
            _: &SecondFactorPassed,
        ) -> async_graphql::Result<Option<String>> {
            Ok(None)
        }
        async fn on_first_factor(&self, _: &Principal, _: Option<std::net::IpAddr>) -> async_graphql::Result<()> {
            self.entered.notify_one();
            self.release.notified().await;
            self.done.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    let Some(env) = env::<C>(backend).await else { return };
    let hook = Blocking::default();
    let schema = Schema::build(C::Query::default(), C::Mutation::default(), EmptySubscription)
        .data(env.manager.clone())
        .data(MfaHook::new(hook.clone()))
        .finish();
    let id = C::sample(1);
    C::insert(&env.t.db, id.clone(), "alice").await;
    let setup =
        serde_json::to_value(schema.execute(Request::new(SETUP_TOTP).data(password_session(&id))).await).unwrap();
    let code = totp_now(setup["data"]["setupTotp"]["secretKey"].as_str().expect("a secret"), 0);
    let verify = format!(r#"mutation {{ verifyTotp(code: "{code}") {{ success }} }}"#);
    let request = schema.execute(Request::new(verify).data(password_session(&id)));
    tokio::select! {
        answer = request => panic!("the hook holds the request until released: {:?}", answer.errors),
        () = hook.entered.notified() => {}
    }
    // The request's future is gone, as when the client goes away.
    hook.release.notify_one();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !hook.done.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "on_first_factor was dropped with the request");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    env.t.cleanup().await;
}
