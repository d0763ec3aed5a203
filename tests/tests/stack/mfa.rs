//! `mfa.*`: the MFA managers the stack makes.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use integration_tests::base32_decode;
use rail_graphql_security::config::Profile;
use rail_graphql_security::config::standard::Base64Key;
use rail_graphql_security::context::MfaState;
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::mfa::sms::{SmsError, SmsProvider};
use rail_graphql_security::mfa::{MfaAccount, MfaError, TotpAlgorithm, totp_code_at};
use rail_graphql_security::stack::Security;
use sea_orm::{ConnectionTrait, Statement};

use super::harness::{App, build_error, build_error_with, load, serve, start, start_with};

/// A key other than the tests' default one (32 bytes, base64).
const OTHER_KEY: &str = "T3RoZXIta2V5LTMyLWJ5dGVzLWZvci1yb3RhdGlvbiE=";

fn alice() -> MfaAccount<i64> {
    MfaAccount::new(1_i64, "alice@example.com")
}

/// Sets up a TOTP device for alice and returns its raw secret.
async fn enrol(app: &App) -> (Vec<u8>, String) {
    let setup = app.security.mfa::<i64>().unwrap().setup_totp_device(&alice(), "phone").await.unwrap();
    (base32_decode(&setup.secret), setup.otpauth_uri.to_string())
}

fn code(app: &App, secret: &[u8]) -> String {
    let config = app.security.mfa_config();
    totp_code_at(TotpAlgorithm::Sha1, config.totp_digits, config.totp_period, secret, Utc::now().timestamp() as u64)
}

const STATUS: &str = "{ mfaStatus { required } }";

pub(crate) async fn mfa_enabled() {
    let keys = |enabled| [("mfa.required_for_roles", "admin"), ("mfa.enabled", enabled)];
    let on = start(&keys("true")).await;
    let admin = format!("Bearer {}", on.token(1, &["admin"]));
    assert_eq!(on.gql_auth(STATUS, &admin).await.body["data"]["mfaStatus"]["required"], true);
    let off = start(&keys("false")).await;
    let admin = format!("Bearer {}", off.token(1, &["admin"]));
    assert_eq!(off.gql_auth(STATUS, &admin).await.body["data"]["mfaStatus"]["required"], false);
    // Enabled without a key cannot build.
    let error = build_error(Profile::Development, &[("mfa.enabled", "true"), ("mfa.encryption_key", "")]).await;
    assert!(error.starts_with("mfa.encryption_key is not set"), "{error}");
}

pub(crate) async fn issuer() {
    let app = start(&[("mfa.issuer", "AcmeBank")]).await;
    let (_, uri) = enrol(&app).await;
    assert!(uri.contains("issuer=AcmeBank"), "{uri}");
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.issuer", "Acme:Bank")]).unwrap_err();
    assert!(error.contains("`mfa.issuer` must be non-empty and must not contain ':'"), "{error}");
}

pub(crate) async fn digits() {
    let app = start(&[("mfa.digits", "8")]).await;
    let (secret, uri) = enrol(&app).await;
    assert!(uri.contains("digits=8"), "{uri}");
    let code = code(&app, &secret);
    assert_eq!(code.len(), 8);
    assert!(app.security.mfa::<i64>().unwrap().verify_totp_code(&alice(), &code).await.unwrap());
    // 7 passes no authenticator app: the loader refuses it as the runtime would.
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.digits", "7")]).unwrap_err();
    assert!(error.contains("`mfa.digits` must be 6 or 8"), "{error}");
}

pub(crate) async fn period() {
    let app = start(&[("mfa.period", "60")]).await;
    let (secret, uri) = enrol(&app).await;
    assert!(uri.contains("period=60"), "{uri}");
    let code = code(&app, &secret);
    assert!(app.security.mfa::<i64>().unwrap().verify_totp_code(&alice(), &code).await.unwrap());
    // The runtime's range: 300 loads, 301 does not.
    assert!(load(&Profile::Development, app.dir.path(), &[("mfa.period", "300")]).is_ok());
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.period", "301")]).unwrap_err();
    assert!(error.contains("outside 15..=300"), "{error}");
}

pub(crate) async fn backup_codes_count() {
    let app = start(&[("mfa.backup_codes_count", "3")]).await;
    let codes = app.security.mfa::<i64>().unwrap().generate_backup_codes(&alice()).await.unwrap();
    assert_eq!(codes.len(), 3);
}

pub(crate) async fn backup_code_length() {
    let app = start(&[("mfa.backup_codes_count", "1"), ("mfa.backup_code_length", "12")]).await;
    let codes = app.security.mfa::<i64>().unwrap().generate_backup_codes(&alice()).await.unwrap();
    assert_eq!(codes[0].replace('-', "").len(), 12, "{}", codes[0].len());
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.backup_code_length", "6")]).unwrap_err();
    assert!(error.contains("outside 8..=32"), "{error}");
}

pub(crate) async fn trusted_device_days() {
    let app = start(&[("mfa.trusted_device_days", "3")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    let trusted = mfa.register_trusted_device(&alice(), "laptop", None, None).await.unwrap();
    let days = (trusted.expires_at - Utc::now()).num_minutes() as f64 / (24.0 * 60.0);
    assert!((2.99..=3.01).contains(&days), "expires in {days} days");
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.trusted_device_days", "0")]).unwrap_err();
    assert!(error.contains("outside 1..=365"), "{error}");
}

pub(crate) async fn required_for_roles() {
    let app = start(&[("mfa.enabled", "true"), ("mfa.required_for_roles", "admin, auditor")]).await;
    for (roles, required) in [(&["admin"][..], true), (&["auditor", "user"], true), (&["user"], false), (&[], false)] {
        let token = format!("Bearer {}", app.token(2, roles));
        let answer = app.gql_auth(STATUS, &token).await;
        assert_eq!(answer.body["data"]["mfaStatus"]["required"], required, "{roles:?}: {answer:?}");
    }
    // The manager's policy too, for code that calls it directly.
    let mfa = app.security.mfa::<i64>().unwrap();
    assert!(mfa.is_mfa_required(&alice().with_roles(["admin"])).await.unwrap());
    assert!(!mfa.is_mfa_required(&alice()).await.unwrap());
}

/// An SMS provider that keeps what it is asked to send.
#[derive(Debug, Clone, Default)]
struct Outbox(Arc<Mutex<Vec<(String, String)>>>);

#[async_trait::async_trait]
impl SmsProvider for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        self.0.lock().unwrap().push((to.to_owned(), body.to_owned()));
        Ok(())
    }
}

pub(crate) async fn sms_provider() {
    let outbox = Outbox::default();
    let sent = outbox.clone();
    let app = start_with(Profile::Development, &[("mfa.sms.provider", "custom")], move |b| b.sms_provider(sent)).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    // Setting up an SMS device sends its first code.
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    assert_eq!(outbox.0.lock().unwrap()[0].0, "+15550100");

    // Development: console; production refuses it.
    assert!(format!("{:?}", start(&[]).await.security).contains("sms: Some(\"console\")"));
    let error = build_error(
        Profile::Production,
        &[("mfa.sms.provider", "console"), ("deployment.allowed_hosts", "api.example.com")],
    )
    .await;
    assert!(error.contains("for development only"), "{error}");
    // `none`: no provider; `custom` without one, or one without `custom`, is an error.
    assert!(format!("{:?}", start(&[("mfa.sms.provider", "none")]).await.security).contains("sms: None"));
    let error = build_error(Profile::Development, &[("mfa.sms.provider", "custom")]).await;
    assert!(error.contains("no provider was given to SecurityBuilder::sms_provider"), "{error}");
    let error = build_error_with(Profile::Development, &[], |b| b.sms_provider(Outbox::default())).await;
    assert!(error.contains("set it to `custom`"), "{error}");
    // The original package's name of SNS.
    let sns = start(&[
        ("mfa.sms.provider", "aws_sns"),
        ("mfa.sms.sns_region", "eu-west-1"),
        ("mfa.sms.sns_access_key_id", "AKIDEXAMPLE"),
        ("mfa.sms.sns_secret_access_key", "sns-secret-value"),
    ])
    .await;
    assert!(format!("{:?}", sns.security).contains("sms: Some(\"aws_sns\")"));
}

const TWILIO: [(&str, &str); 4] = [
    ("mfa.sms.provider", "twilio"),
    ("mfa.sms.twilio_account_sid", "AC0123"),
    ("mfa.sms.twilio_auth_token", "twilio-auth-token-value"),
    ("mfa.sms.twilio_from_number", "+15550199"),
];

const SNS: [(&str, &str); 4] = [
    ("mfa.sms.provider", "sns"),
    ("mfa.sms.sns_region", "eu-west-1"),
    ("mfa.sms.sns_access_key_id", "AKIDEXAMPLE"),
    ("mfa.sms.sns_secret_access_key", "sns-secret-value"),
];

/// With every key of `set` the provider is built; without `key` the build names it.
async fn provider_needs(set: &[(&'static str, &'static str)], key: &str, name: &str) {
    let app = start(set).await;
    let debug = format!("{:?}", app.security);
    assert!(debug.contains(&format!("sms: Some(\"{name}\")")), "{debug}");
    assert!(!debug.contains("auth-token-value") && !debug.contains("sns-secret-value"), "{debug}");
    let mut without: Vec<(&str, &str)> = set.to_vec();
    without.push((key, ""));
    let error = build_error(Profile::Development, &without).await;
    let leaf = key.rsplit('.').next().unwrap();
    assert!(error.starts_with("mfa.sms:") && error.contains(&format!("{leaf} is not set")), "{error}");
}

pub(crate) async fn twilio_account_sid() {
    provider_needs(&TWILIO, "mfa.sms.twilio_account_sid", "twilio").await;
}

pub(crate) async fn twilio_auth_token() {
    provider_needs(&TWILIO, "mfa.sms.twilio_auth_token", "twilio").await;
}

pub(crate) async fn twilio_from_number() {
    provider_needs(&TWILIO, "mfa.sms.twilio_from_number", "twilio").await;
}

pub(crate) async fn sns_region() {
    provider_needs(&SNS, "mfa.sms.sns_region", "aws_sns").await;
}

pub(crate) async fn sns_access_key_id() {
    provider_needs(&SNS, "mfa.sms.sns_access_key_id", "aws_sns").await;
}

pub(crate) async fn sns_secret_access_key() {
    provider_needs(&SNS, "mfa.sms.sns_secret_access_key", "aws_sns").await;
}

pub(crate) async fn code_ttl_minutes() {
    let outbox = Outbox::default();
    let app = start_with(Profile::Development, &[("mfa.sms.provider", "custom"), ("mfa.sms.code_ttl_minutes", "2")], {
        let outbox = outbox.clone();
        move |b| b.sms_provider(outbox)
    })
    .await;
    let mfa = app.security.mfa::<i64>().unwrap();
    let sent_at = Utc::now();
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    assert_eq!(outbox.0.lock().unwrap().len(), 1, "the first code");
    let backend = app.db.db.get_database_backend();
    let row = app
        .db
        .db
        .query_one_raw(Statement::from_string(backend, "SELECT sms_code_expires_at FROM mfa_devices"))
        .await
        .unwrap()
        .unwrap();
    let expires: chrono::DateTime<Utc> = row.try_get("", "sms_code_expires_at").unwrap();
    let ttl = (expires - sent_at).num_seconds();
    assert!((115..=125).contains(&ttl), "the code lives {ttl} s, not 10 minutes");
}

pub(crate) async fn encryption_key() {
    let app = start(&[]).await;
    enrol(&app).await;
    let backend = app.db.db.get_database_backend();
    let row = app
        .db
        .db
        .query_one_raw(Statement::from_string(backend, "SELECT key_id FROM mfa_devices"))
        .await
        .unwrap()
        .unwrap();
    let stored: String = row.try_get("", "key_id").unwrap();
    let key = Base64Key::new(integration_tests::myapp::TEST_ENCRYPTION_KEY).unwrap();
    assert_eq!(stored, key.key_id(), "secrets are sealed under the configured key");
    assert!(!format!("{:?}", app.security).contains(integration_tests::myapp::TEST_ENCRYPTION_KEY));

    // Another key cannot read them.
    let other = Security::builder(
        &load(&Profile::Development, app.dir.path(), &[("mfa.encryption_key", OTHER_KEY)]).unwrap(),
        Profile::Development,
        app.db.db.clone(),
    )
    .build()
    .await
    .unwrap();
    let refused = other.mfa::<i64>().unwrap().verify_totp_code(&alice(), "123456").await.unwrap_err();
    assert!(matches!(refused, MfaError::UnknownKey { .. }), "{refused:?}");

    // A key that is not 32 bytes of base64 is refused when loading, without quoting it.
    for bad in ["correct-horse-battery-staple-0123456789", "c2hvcnQ="] {
        let error = load(&Profile::Development, app.dir.path(), &[("mfa.encryption_key", bad)]).unwrap_err();
        assert!(error.contains("32 bytes in standard base64") && !error.contains(bad), "{error}");
    }
}

pub(crate) async fn previous_encryption_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let old =
        Security::builder(&load(&Profile::Development, dir.path(), &[]).unwrap(), Profile::Development, db.db.clone())
            .build()
            .await
            .unwrap();
    let setup = old.mfa::<i64>().unwrap().setup_totp_device(&alice(), "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    // Rotated: a new key, the old one kept for reading.
    let rotated = [
        ("mfa.encryption_key", OTHER_KEY),
        ("mfa.previous_encryption_keys", integration_tests::myapp::TEST_ENCRYPTION_KEY),
    ];
    let config = load(&Profile::Development, dir.path(), &rotated).unwrap();
    let security = Security::builder(&config, Profile::Development, db.db.clone()).build().await.unwrap();
    let app = serve(security, db, dir).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    assert!(mfa.verify_totp_code(&alice(), &code(&app, &secret)).await.unwrap());
    assert_eq!(mfa.reencrypt_secrets().await.unwrap(), 1);
}

/// The stack with SMS codes going to an [`Outbox`] and `over` applied.
async fn with_outbox(over: &[(&str, &str)]) -> (App, Outbox) {
    let outbox = Outbox::default();
    let mut keys = vec![("mfa.sms.provider", "custom")];
    keys.extend_from_slice(over);
    let sent = outbox.clone();
    let app = start_with(Profile::Development, &keys, move |b| b.sms_provider(sent)).await;
    (app, outbox)
}

fn user(id: i64) -> MfaAccount<i64> {
    MfaAccount::new(id, format!("user{id}@example.com"))
}

/// Which limit refused `result`.
fn refused_by<T: std::fmt::Debug>(result: Result<T, MfaError>) -> &'static str {
    match result {
        Err(MfaError::RateLimited { what, .. }) => what,
        other => panic!("expected a limit to refuse, got {other:?}"),
    }
}

pub(crate) async fn max_consecutive_failures() {
    let app = start(&[("mfa.max_consecutive_failures", "2")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    let (secret, _) = enrol(&app).await;
    let config = app.security.mfa_config().clone();
    let code_at =
        |unix: i64| totp_code_at(TotpAlgorithm::Sha1, config.totp_digits, config.totp_period, &secret, unix as u64);
    let t0 = Utc::now().timestamp();
    let at = |unix: i64| chrono::DateTime::from_timestamp(unix, 0).unwrap();
    assert!(mfa.verify_totp_code_at(&alice(), &code_at(t0), at(t0)).await.unwrap(), "confirms the device");
    // Two wrong codes, each after the lockout window of the previous one.
    for step in 1..=2 {
        let unix = t0 + 600 * step;
        let wrong = if code_at(unix) == "000000" { "111111" } else { "000000" };
        assert!(!mfa.verify_totp_code_at(&alice(), wrong, at(unix)).await.unwrap());
    }
    assert!(mfa.is_locked_until_recovery(&alice()).await.unwrap(), "locked after 2, not the default 100");
    let unix = t0 + 1800;
    assert!(matches!(
        mfa.verify_totp_code_at(&alice(), &code_at(unix), at(unix)).await,
        Err(MfaError::LockedUntilRecovery)
    ));
}

pub(crate) async fn max_pending_devices() {
    let (app, _) = with_outbox(&[("mfa.max_pending_devices", "1")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    enrol(&app).await;
    assert_eq!(refused_by(mfa.setup_sms_device(&alice(), "+15550100", "phone").await), "pending_devices");
    let (app, _) = with_outbox(&[]).await;
    enrol(&app).await;
    app.security.mfa::<i64>().unwrap().setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
}

/// Strict (default): a password-only token of a user with a second factor reaches only the
/// allow-listed fields (`mfaStatus` here); lenient: every field; with MFA disabled, no guard.
pub(crate) async fn pending_session_policy() {
    let pending = |app: &App| format!("Bearer {}", app.token_with(1, &MfaState::none(), &[MfaMethod::Totp]));
    let strict = start(&[("mfa.enabled", "true")]).await;
    let answer = strict.gql_auth("{ hello }", &pending(&strict)).await;
    assert_eq!(answer.code(), Some("MFA_REQUIRED"), "{:?}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["methods"], serde_json::json!(["totp"]));
    assert_eq!(strict.gql_auth(STATUS, &pending(&strict)).await.body["data"]["mfaStatus"]["required"], false);
    // A user without a factor, or a verified session, is not pending.
    let none = format!("Bearer {}", strict.token(2, &[]));
    assert_eq!(strict.gql_auth("{ hello }", &none).await.body["data"]["hello"], "world");
    let verified = format!(
        "Bearer {}",
        strict.token_with(1, &MfaState::verified(Utc::now(), MfaMethod::Totp), &[MfaMethod::Totp])
    );
    assert_eq!(strict.gql_auth("{ hello }", &verified).await.body["data"]["hello"], "world");
    let lenient = start(&[("mfa.enabled", "true"), ("mfa.pending_session_policy", "lenient")]).await;
    assert_eq!(lenient.gql_auth("{ hello }", &pending(&lenient)).await.body["data"]["hello"], "world");
    let disabled = start(&[("mfa.enabled", "false")]).await;
    assert_eq!(disabled.gql_auth("{ hello }", &pending(&disabled)).await.body["data"]["hello"], "world");
    let error =
        load(&Profile::Development, strict.dir.path(), &[("mfa.pending_session_policy", "medium")]).unwrap_err();
    assert!(error.contains("mfa.pending_session_policy"), "{error}");
}

/// Enrols and confirms alice's TOTP device.
async fn confirmed(app: &App) {
    let (secret, _) = enrol(app).await;
    assert!(app.security.mfa::<i64>().unwrap().verify_totp_code(&alice(), &code(app, &secret)).await.unwrap());
}

/// Factor changes need a code passed within the window: 60 s refuses a code of 2 minutes ago
/// (with `maxAgeSeconds: 60`), the default 600 s accepts it; a trusted device never counts.
pub(crate) async fn step_up_window_seconds() {
    const GENERATE: &str = "mutation { generateBackupCodes { success } }";
    let two_minutes_ago = MfaState::verified(Utc::now() - chrono::Duration::seconds(120), MfaMethod::Totp);
    let short = start(&[("mfa.step_up_window_seconds", "60")]).await;
    confirmed(&short).await;
    let token = format!("Bearer {}", short.token_with(1, &two_minutes_ago, &[MfaMethod::Totp]));
    let answer = short.gql_auth(GENERATE, &token).await;
    assert_eq!(answer.code(), Some("MFA_REQUIRED"), "{:?}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["maxAgeSeconds"], 60);
    let default = start(&[]).await;
    confirmed(&default).await;
    let token = format!("Bearer {}", default.token_with(1, &two_minutes_ago, &[MfaMethod::Totp]));
    assert_eq!(default.gql_auth(GENERATE, &token).await.body["data"]["generateBackupCodes"]["success"], true);
    let trusted =
        format!("Bearer {}", default.token_with(1, &MfaState::trusted_device(Utc::now()), &[MfaMethod::Totp]));
    assert_eq!(default.gql_auth(GENERATE, &trusted).await.code(), Some("MFA_REQUIRED"));
    let error = load(&Profile::Development, short.dir.path(), &[("mfa.step_up_window_seconds", "5")]).unwrap_err();
    assert!(error.contains("mfa.step_up_window_seconds"), "{error}");
}

pub(crate) async fn sms_allowed_country_codes() {
    let (app, outbox) = with_outbox(&[("mfa.sms.allowed_country_codes", "1,33")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    let refused = mfa.setup_sms_device(&alice(), "+44 7700 900123", "phone").await;
    assert!(matches!(refused, Err(MfaError::SmsCountryNotAllowed)), "{refused:?}");
    mfa.setup_sms_device(&user(2), "+33 6 12 34 56 78", "phone").await.unwrap();
    assert_eq!(outbox.0.lock().unwrap().len(), 1);
    let error = load(&Profile::Development, app.dir.path(), &[("mfa.sms.allowed_country_codes", "+44")]).unwrap_err();
    assert!(error.contains("1 to 3 digits without `+`"), "{error}");
}

pub(crate) async fn sms_quota_per_user() {
    let (app, outbox) = with_outbox(&[("mfa.sms.quota_per_user", "1")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    let resend = mfa.send_sms_code_at(&alice(), Utc::now() + chrono::Duration::seconds(61)).await;
    assert_eq!(refused_by(resend), "sms_per_user");
    assert_eq!(outbox.0.lock().unwrap().len(), 1);
}

pub(crate) async fn sms_quota_per_number() {
    let (app, _) = with_outbox(&[("mfa.sms.quota_per_number", "1")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    assert_eq!(refused_by(mfa.setup_sms_device(&user(2), "+1 555 0100", "phone").await), "sms_per_number");
    mfa.setup_sms_device(&user(3), "+15550101", "phone").await.unwrap();
}

pub(crate) async fn sms_quota_per_address() {
    let (app, _) = with_outbox(&[("mfa.sms.quota_per_address", "1")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    let from = |ip: &str| mfa.with_client_ip(Some(ip.parse().unwrap()));
    from("203.0.113.7").setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    let refused = from("203.0.113.7").setup_sms_device(&user(2), "+15550101", "phone").await;
    assert_eq!(refused_by(refused), "sms_per_address");
    from("203.0.113.8").setup_sms_device(&user(3), "+15550102", "phone").await.unwrap();
}

pub(crate) async fn sms_quota_global() {
    let (app, _) = with_outbox(&[("mfa.sms.quota_global", "2")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    mfa.setup_sms_device(&user(2), "+15550101", "phone").await.unwrap();
    assert_eq!(refused_by(mfa.setup_sms_device(&user(3), "+15550102", "phone").await), "sms_global");
}

pub(crate) async fn sms_quota_window() {
    let (app, outbox) = with_outbox(&[("mfa.sms.quota_per_user", "1"), ("mfa.sms.quota_window", "1")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    mfa.setup_sms_device(&alice(), "+15550100", "phone").await.unwrap();
    let resend = mfa.send_sms_code_at(&alice(), Utc::now() + chrono::Duration::seconds(61)).await;
    assert_eq!(refused_by(resend), "sms_per_user");
    // A one-second window has passed: the quota allows the next message.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    mfa.send_sms_code_at(&alice(), Utc::now() + chrono::Duration::seconds(122)).await.unwrap();
    assert_eq!(outbox.0.lock().unwrap().len(), 2);
}

const PASSKEYS: [(&str, &str); 2] =
    [("mfa.passkeys.rp_id", "example.com"), ("mfa.passkeys.origins", "https://app.example.com")];

pub(crate) async fn passkeys_rp_id() {
    let app = start(&PASSKEYS).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    assert!(mfa.passkeys_enabled());
    let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
    assert_eq!(ceremony.options["publicKey"]["rp"]["id"], "example.com");
    // Unset: passkeys are off, with an error that names the keys.
    let off = start(&[]).await;
    let refused = off.security.mfa::<i64>().unwrap().start_passkey_sign_in().await.unwrap_err();
    assert!(matches!(refused, MfaError::PasskeysDisabled));
    assert!(refused.to_string().contains("mfa.passkeys.rp_id"), "{refused}");
    let error =
        build_error(Profile::Development, &[PASSKEYS[0], ("mfa.passkeys.origins", "https://example.org")]).await;
    assert!(error.contains("mfa.passkeys.origins") && error.contains("example.com"), "{error}");
}

pub(crate) async fn passkeys_origins() {
    use integration_tests::authenticator::SoftAuthenticator;
    let app = start(&[PASSKEYS[0], ("mfa.passkeys.origins", "https://app.example.com,https://example.com")]).await;
    let mfa = app.security.mfa::<i64>().unwrap();
    // The second origin listed is accepted; one not listed is refused.
    for (origin, accepted) in [("https://example.com", true), ("https://other.example.com", false)] {
        let ceremony = mfa.start_passkey_registration(&alice()).await.unwrap();
        let credential = SoftAuthenticator::new().register(&ceremony.options, origin).to_string();
        let result = mfa.finish_passkey_registration(&alice(), ceremony.id, &credential, "key").await;
        assert_eq!(result.is_ok(), accepted, "{origin}: {result:?}");
    }
    let error = build_error(Profile::Development, &[PASSKEYS[0], ("mfa.passkeys.origins", "http://example.com")]).await;
    assert!(error.contains("must be https"), "{error}");
}

pub(crate) async fn passkeys_rp_name() {
    let app = start(&[PASSKEYS[0], PASSKEYS[1], ("mfa.passkeys.rp_name", "Acme Bank")]).await;
    let ceremony = app.security.mfa::<i64>().unwrap().start_passkey_registration(&alice()).await.unwrap();
    assert_eq!(ceremony.options["publicKey"]["rp"]["name"], "Acme Bank");
}

pub(crate) async fn passkeys_ceremony_ttl_seconds() {
    let app = start(&[PASSKEYS[0], PASSKEYS[1], ("mfa.passkeys.ceremony_ttl_seconds", "60")]).await;
    let ceremony = app.security.mfa::<i64>().unwrap().start_passkey_sign_in().await.unwrap();
    let ttl = (ceremony.expires_at - Utc::now()).num_seconds();
    assert!((55..=60).contains(&ttl), "{ttl}");
    assert_eq!(ceremony.options["publicKey"]["timeout"], 60_000, "the browser's timeout follows it");
    let error =
        load(&Profile::Development, app.dir.path(), &[("mfa.passkeys.ceremony_ttl_seconds", "10")]).unwrap_err();
    assert!(error.contains("mfa.passkeys.ceremony_ttl_seconds"), "{error}");
}
