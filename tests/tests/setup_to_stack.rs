//! `setup_security` writes a configuration that works: in production it passes every critical
//! check once given the facts only the user has (`--allowed-hosts`), leaves SMS safely off, and
//! the keys it generates load back and run the stack: TOTP enrolled and verified with the
//! generated encryption key, a token signed and verified with the generated secret key.

use chrono::Utc;
use clap::Parser;
use integration_tests::{Backend, TestDb, base32_decode};
use rail_graphql_security::cli::{Cli, EXIT_OK, execute};
use rail_graphql_security::config::standard::SmsProviderKind;
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::context::{MfaState, Principal};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::mfa::{MfaAccount, TotpAlgorithm, totp_code_at};
use rail_graphql_security::stack::Security;

fn run(args: &[&str]) -> (u8, String, String) {
    let cli = Cli::try_parse_from(std::iter::once("rail-security").chain(args.iter().copied())).expect("arguments");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = execute::<StandardSecurityConfig>(cli.command, &mut out, &mut err);
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_setup_passes_its_own_check_and_runs_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("security.toml");
    let path = file.to_str().unwrap();
    let (code, out, err) = run(&[
        "setup",
        "--environment",
        "production",
        "--no-migrate",
        "--config",
        path,
        "--allowed-hosts",
        "api.example.com",
    ]);
    assert_eq!(code, EXIT_OK, "{out}{err}");

    // Its own check passes: nothing critical fails.
    let (code, out, _) = run(&["check", "--environment", "production", "--config", path, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let critical: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false && c["severity"] == "critical")
        .collect();
    assert!(critical.is_empty(), "critical failures: {critical:?}");
    assert_eq!(code, EXIT_OK);

    // It loads back as the server loads it, with SMS off until configured.
    let config = StandardSecurityConfig::loader()
        .profile(Profile::Production)
        .file(&file)
        .env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    assert_eq!(config.mfa.sms.provider, SmsProviderKind::None);
    assert_eq!(config.deployment.allowed_hosts, ["api.example.com"]);

    // The generated keys run the stack.
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let security =
        Security::builder(&config, Profile::Production, t.db.clone()).build().await.expect("the stack builds");
    let mfa = security.mfa::<i64>().expect("the generated encryption key is accepted");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let code = totp_code_at(
        TotpAlgorithm::Sha1,
        security.mfa_config().totp_digits,
        security.mfa_config().totp_period,
        &secret,
        Utc::now().timestamp() as u64,
    );
    assert!(mfa.verify_totp_code(&alice, &code).await.unwrap(), "TOTP with the generated key");

    let principal = Principal::new(1, "alice");
    let issued = security.tokens().issue(&principal, &MfaState::verified(Utc::now(), MfaMethod::Totp), None).unwrap();
    let claims = security.tokens().verify(&issued.token, None).await.expect("signed with the generated secret key");
    assert_eq!(claims.sub, "1");
    security.shutdown().await.unwrap();
}

#[test]
fn a_bad_set_value_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("security.toml");
    let (code, _, err) = run(&["setup", "--no-migrate", "--config", file.to_str().unwrap(), "--set", "mfa.digits=7"]);
    assert_eq!(code, 2);
    assert!(err.contains("`mfa.digits`"), "{err}");
    assert!(!file.exists());
}
