//! The stack built from a loaded `StandardSecurityConfig` (`stack::Security`), proven key by
//! key on the real built stack: SQLite, an axum server on 127.0.0.1, reqwest.
//!
//! [`KEY_TESTS`] maps every leaf key of the config (dotted path) to the test that shows its
//! effect; `the_table_lists_every_leaf_key` keeps the table complete.

mod stack {
    pub(crate) mod audit;
    pub(crate) mod deployment;
    pub(crate) mod harness;
    pub(crate) mod mfa;
    pub(crate) mod middleware;
}

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};

use self::stack::{audit, deployment, harness, mfa, middleware};

/// A test of one key.
type KeyTest = fn() -> BoxFuture<'static, ()>;

macro_rules! key_tests {
    ($($key:literal => $module:ident :: $case:ident,)*) => {
        /// Every leaf key of [`StandardSecurityConfig`] and the test that proves what it does.
        const KEY_TESTS: &[(&str, KeyTest)] = &[$(($key, || Box::pin($module::$case()))),*];

        /// One `#[tokio::test]` per entry, named `<module>_<case>`.
        mod by_key {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$module::$case().await
                }
            )*
        }
    };
}

key_tests! {
    "middleware.authentication.enabled" => middleware::authentication_enabled,
    "middleware.authentication.jwt_header_prefix" => middleware::jwt_header_prefix,
    "middleware.authentication.security_headers" => middleware::security_headers,
    "middleware.rate_limiting.enabled" => middleware::rate_limiting_enabled,
    "middleware.rate_limiting.login_attempts_limit" => middleware::login_attempts_limit,
    "middleware.rate_limiting.login_attempts_window" => middleware::login_attempts_window,
    "middleware.rate_limiting.login_ip_attempts_limit" => middleware::login_ip_attempts_limit,
    "middleware.rate_limiting.graphql_requests_limit" => middleware::graphql_requests_limit,
    "middleware.rate_limiting.graphql_requests_window" => middleware::graphql_requests_window,
    "middleware.rate_limiting.graphql_requests_lease_ms" => middleware::graphql_requests_lease_ms,
    "middleware.rate_limiting.store_url" => middleware::store_url,
    "middleware.performance.enabled" => middleware::performance_enabled,
    "middleware.performance.slow_query_threshold" => middleware::slow_query_threshold,
    "audit.enabled" => audit::audit_enabled,
    "audit.storage_backend" => audit::storage_backend,
    "audit.log_file_path" => audit::log_file_path,
    "audit.log_file_max_bytes" => audit::log_file_max_bytes,
    "audit.log_file_max_files" => audit::log_file_max_files,
    "audit.export_format" => audit::export_format,
    "audit.dead_letter_path" => audit::dead_letter_path,
    "audit.flush_timeout_secs" => audit::flush_timeout_secs,
    "audit.webhook_url" => audit::webhook_url,
    "audit.webhook_headers" => audit::webhook_headers,
    "audit.webhook_secret" => audit::webhook_secret,
    "audit.webhook_spool_dir" => audit::webhook_spool_dir,
    "audit.nats_url" => audit::nats_url,
    "audit.nats_stream" => audit::nats_stream,
    "audit.nats_subject_prefix" => audit::nats_subject_prefix,
    "audit.nats_spool_dir" => audit::nats_spool_dir,
    "audit.retention_days" => audit::retention_days,
    "audit.hash_chain" => audit::hash_chain,
    "audit.checkpoint_signing_key" => audit::checkpoint_signing_key,
    "audit.checkpoint_previous_keys" => audit::checkpoint_previous_keys,
    "audit.checkpoint_every_events" => audit::checkpoint_every_events,
    "audit.checkpoint_interval_secs" => audit::checkpoint_interval_secs,
    "audit.checkpoint_anchor_path" => audit::checkpoint_anchor_path,
    "audit.alert_thresholds.failed_logins_per_hour" => audit::failed_logins_per_hour,
    "audit.alert_thresholds.suspicious_activity_per_day" => audit::suspicious_activity_per_day,
    "audit.alert_thresholds.rate_limit_hits_per_hour" => audit::rate_limit_hits_per_hour,
    "mfa.enabled" => mfa::mfa_enabled,
    "mfa.issuer" => mfa::issuer,
    "mfa.digits" => mfa::digits,
    "mfa.period" => mfa::period,
    "mfa.backup_codes_count" => mfa::backup_codes_count,
    "mfa.backup_code_length" => mfa::backup_code_length,
    "mfa.trusted_device_days" => mfa::trusted_device_days,
    "mfa.required_for_roles" => mfa::required_for_roles,
    "mfa.max_consecutive_failures" => mfa::max_consecutive_failures,
    "mfa.max_pending_devices" => mfa::max_pending_devices,
    "mfa.pending_session_policy" => mfa::pending_session_policy,
    "mfa.step_up_window_seconds" => mfa::step_up_window_seconds,
    "mfa.passkeys.rp_id" => mfa::passkeys_rp_id,
    "mfa.passkeys.rp_name" => mfa::passkeys_rp_name,
    "mfa.passkeys.origins" => mfa::passkeys_origins,
    "mfa.passkeys.ceremony_ttl_seconds" => mfa::passkeys_ceremony_ttl_seconds,
    "mfa.sms.provider" => mfa::sms_provider,
    "mfa.sms.twilio_account_sid" => mfa::twilio_account_sid,
    "mfa.sms.twilio_auth_token" => mfa::twilio_auth_token,
    "mfa.sms.twilio_from_number" => mfa::twilio_from_number,
    "mfa.sms.sns_region" => mfa::sns_region,
    "mfa.sms.sns_access_key_id" => mfa::sns_access_key_id,
    "mfa.sms.sns_secret_access_key" => mfa::sns_secret_access_key,
    "mfa.sms.code_ttl_minutes" => mfa::code_ttl_minutes,
    "mfa.sms.allowed_country_codes" => mfa::sms_allowed_country_codes,
    "mfa.sms.quota_per_user" => mfa::sms_quota_per_user,
    "mfa.sms.quota_per_number" => mfa::sms_quota_per_number,
    "mfa.sms.quota_per_address" => mfa::sms_quota_per_address,
    "mfa.sms.quota_global" => mfa::sms_quota_global,
    "mfa.sms.quota_window" => mfa::sms_quota_window,
    "mfa.encryption_key" => mfa::encryption_key,
    "mfa.previous_encryption_keys" => mfa::previous_encryption_keys,
    "deployment.https_redirect" => deployment::https_redirect,
    "deployment.hsts_seconds" => deployment::hsts_seconds,
    "deployment.hsts_include_subdomains" => deployment::hsts_include_subdomains,
    "deployment.hsts_preload" => deployment::hsts_preload,
    "deployment.cookie_secure" => deployment::cookie_secure,
    "deployment.cookie_http_only" => deployment::cookie_http_only,
    "deployment.cookie_same_site" => deployment::cookie_same_site,
    "deployment.allowed_hosts" => deployment::allowed_hosts,
    "deployment.allowed_origins" => deployment::allowed_origins,
    "deployment.cors_allow_credentials" => deployment::cors_allow_credentials,
    "deployment.x_frame_options" => deployment::x_frame_options,
    "deployment.content_type_nosniff" => deployment::content_type_nosniff,
    "deployment.referrer_policy" => deployment::referrer_policy,
    "deployment.secret_key" => deployment::secret_key,
    "deployment.behind_proxy" => deployment::behind_proxy,
    "deployment.trusted_proxies" => deployment::trusted_proxies,
    "deployment.introspection" => deployment::introspection,
    "deployment.playground" => deployment::playground,
    "deployment.max_query_depth" => deployment::max_query_depth,
    "deployment.max_query_complexity" => deployment::max_query_complexity,
    "deployment.max_field_occurrences" => deployment::max_field_occurrences,
    "deployment.max_request_body_bytes" => deployment::max_request_body_bytes,
    "deployment.multipart" => deployment::multipart_uploads,
}

#[test]
fn the_table_lists_every_leaf_key() {
    // The derive's own key list: a key added to the config without a test here fails.
    let keys: BTreeSet<String> = StandardSecurityConfig::leaf_keys().into_iter().map(|k| k.key).collect();
    let table: BTreeSet<String> = KEY_TESTS.iter().map(|(key, _)| (*key).to_owned()).collect();
    assert_eq!(table.len(), KEY_TESTS.len(), "a key is listed twice");
    assert_eq!(table, keys, "every leaf key has exactly one test");
    // Each key also loads from its environment variable (the table's paths are real keys).
    for key in &keys {
        assert!(harness::env_var(key).starts_with("RAIL_SECURITY__"), "{key}");
    }
}

/// A production config that passes every `security_check` builds; the checks score what the
/// stack then runs with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_passing_every_check_builds_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("security.toml");
    std::fs::write(&file, integration_tests::myapp::HARDENED_STANDARD_TOML).unwrap();
    let anchors = dir.path().join("anchors.jsonl").display().to_string();
    let config = StandardSecurityConfig::loader()
        .profile(Profile::Production)
        .file(&file)
        .env_vars(harness::env(
            dir.path(),
            &[("mfa.sms.twilio_auth_token", "twilio-token-1"), ("audit.checkpoint_anchor_path", anchors.as_str())],
        ))
        .load()
        .unwrap();
    let report = config.run_checks(&Profile::Production);
    assert_eq!(report.score(), 10, "{:?}", report.failures());
    let db = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let security = rail_graphql_security::stack::Security::builder(&config, Profile::Production, db.db.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(security.findings().score(), 10);
    assert!(security.mfa_config().production && security.mfa_config().enabled);
    assert!(!security.limits().introspection && !security.limits().graphiql);
    assert_eq!(security.login_limiter().username_quota().limit, 3, "the production login limit");
}

/// The builder's own connection for the audit sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_database_of_its_own() {
    audit::audit_database_of_its_own().await;
}

/// Without `store_url`, token revocations are kept in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_default_to_the_database() {
    middleware::revocations_in_the_database().await;
}

/// The whole stack's Debug output holds no secret of the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_debug_output() {
    let webhook = "whsec-debug-0123456789";
    let app = harness::start(&[
        ("audit.webhook_secret", webhook),
        ("audit.webhook_headers", r#"{ authorization = "Bearer hdr-secret-42" }"#),
        ("mfa.sms.provider", "twilio"),
        ("mfa.sms.twilio_account_sid", "AC1"),
        ("mfa.sms.twilio_auth_token", "twilio-secret-43"),
        ("mfa.sms.twilio_from_number", "+15550100"),
    ])
    .await;
    let debug = format!("{:?} {:#?}", app.security, app.security.mfa::<i64>().unwrap());
    for secret in [
        integration_tests::myapp::TEST_SECRET_KEY,
        integration_tests::myapp::TEST_ENCRYPTION_KEY,
        webhook,
        "hdr-secret-42",
        "twilio-secret-43",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

/// What an application writes: load, build, mount; the stack's parts are those of the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_build_mount() {
    let app = harness::start(&[]).await;
    assert_eq!(app.gql("{ hello }").await.body["data"]["hello"], "world");
    let quota = app.security.request_quota().unwrap();
    assert_eq!((quota.limit, quota.window.as_secs()), (1000, 3600), "the defaults of the development profile");
    assert_eq!(app.security.login_limiter().ip_quota().limit, 20);
    assert!(app.security.limits().introspection && app.security.limits().graphiql);
    let stats = app.security.shutdown().await.unwrap();
    assert_eq!(stats.lost, 0);
}

/// An attack over HTTP on the leased request limit: one client floods two instances that share
/// Redis (leases of 100 ms, the default). Together they let through no more than the limit
/// plus the stated overshoot (`limit × lease / window`, on top of the GCRA's refill), no fewer
/// than the limit less what the two can hold in leases, and every refusal is a 429 with
/// `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_flood_over_two_instances_gets_no_more_than_the_leased_bound() {
    let Ok(url) = std::env::var("RAIL_TEST_REDIS_URL") else {
        eprintln!("note: the leased flood test SKIPPED: set RAIL_TEST_REDIS_URL");
        return;
    };
    let prefix = format!("flood-{}", uuid::Uuid::new_v4().simple());
    // 300 a minute: one more every 200 ms; leases of at most 3.
    let keys = [
        ("middleware.rate_limiting.store_url", url.as_str()),
        ("middleware.rate_limiting.graphql_requests_limit", "300"),
        ("middleware.rate_limiting.graphql_requests_window", "60"),
    ];
    let a =
        std::sync::Arc::new(harness::start_with(Profile::Development, &keys, |b| b.redis_prefix(prefix.clone())).await);
    let b =
        std::sync::Arc::new(harness::start_with(Profile::Development, &keys, |b| b.redis_prefix(prefix.clone())).await);
    let started = std::time::Instant::now();
    let requests: Vec<_> = (0..800)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let answer = app.gql("{ hello }").await;
                (answer.status, answer.header("retry-after").map(str::to_owned))
            })
        })
        .collect();
    let (mut passed, mut refused) = (0u32, 0u32);
    for request in requests {
        match request.await.unwrap() {
            (200, _) => passed += 1,
            (429, Some(retry)) => {
                assert!(retry.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)), "Retry-After {retry}");
                refused += 1;
            }
            other => panic!("neither served nor refused: {other:?}"),
        }
    }
    let span = started.elapsed() + std::time::Duration::from_millis(100);
    let most = 300 + span.as_millis().div_ceil(200) as u32;
    assert!(passed <= most, "{passed} requests served in {span:?}, at most {most}");
    assert!(passed >= 300 - 2 * 3, "{passed} requests served, at least 294");
    assert_eq!(passed + refused, 800);
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

/// Every test of the table, run once more in one go (a smoke run of the whole table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs every key test again in sequence; the per-key tests already cover them"]
async fn every_key_in_sequence() {
    for (key, test) in KEY_TESTS {
        eprintln!("{key}");
        test().await;
    }
}
