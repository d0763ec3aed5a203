//! A user's own binary mounting the commands for a derived config (`myapp-security`), and
//! `setup` migrating PostgreSQL and MariaDB through `DATABASE_URL`.

use assert_cmd::Command;
use integration_tests::myapp::{HARDENED_STANDARD_TOML, TEST_ENCRYPTION_KEY, TEST_SECRET_KEY};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

fn cmd() -> Command {
    let mut cmd = Command::cargo_bin("myapp-security").unwrap();
    cmd.env_clear();
    cmd
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap();
    Output {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The hardened standard settings nested under `[security...]`, plus the app's own.
fn hardened_myapp_toml() -> String {
    let mut text = String::from("# MyApp production\npayment_api_key = \"pk_live_1\"\n");
    for line in HARDENED_STANDARD_TOML.lines() {
        match line.strip_prefix('[') {
            Some(header) => text.push_str(&format!("[security.{header}")),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[test]
fn check_scores_the_derived_config_and_passes_only_when_hardened() {
    let out = run(cmd().args(["check", "--environment", "production", "--verbose"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("✗ Token signing key is missing or short [critical]\n    key: token_signing_key\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("    key: security.deployment.secret_key\n"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ HTTPS is enforced"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myapp.toml");
    std::fs::write(&file, hardened_myapp_toml()).unwrap();
    let hardened = || {
        let mut c = cmd();
        c.args(["check", "-e", "production", "--config"])
            .arg(&file)
            .env("MYAPP__SECURITY__DEPLOYMENT__SECRET_KEY", TEST_SECRET_KEY)
            .env("MYAPP__SECURITY__MFA__ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            .env("MYAPP__TOKEN_SIGNING_KEY", TEST_SECRET_KEY);
        c
    };
    let out = run(&mut hardened());
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("Security Score: 10/10"), "{}", out.stdout);
    let out = run(hardened().env("MYAPP__SECURITY__DEPLOYMENT__COOKIE_SECURE", "false").args(["--format", "json"]));
    assert_eq!(out.code, 1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["passed"], false);
    let failed: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["security.deployment.cookie_secure"]);
    // A derived validation rule rejects bad input with exit code 2.
    let out = run(hardened().env("MYAPP__MAX_UPLOAD_MB", "3"));
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: environment variable MYAPP__MAX_UPLOAD_MB: `max_upload_mb` is 3, which is not a power of two: use 1, 2, 4, 8, 16, ...\n"
    );
}

#[test]
fn fix_edits_nested_keys_of_the_derived_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myapp.toml");
    std::fs::write(
        &file,
        "workers = 4 # two per core\n\n[security.deployment]\nplayground = true # remove before launch\n",
    )
    .unwrap();
    let out = run(cmd().args(["check", "-e", "production", "--fix", "--config"]).arg(&file));
    assert!(out.stdout.contains("Fixed: security.deployment.playground = false (was true)"), "{}", out.stdout);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(
            "workers = 4 # two per core\n\n[security.deployment]\nplayground = false # remove before launch\n"
        ),
        "{text}"
    );
}

/// Found by a read of the docs against the code: a binary built on `cli::run` (as the config
/// guide recommends) gave the `audit` commands nothing of its configuration, so `audit key`
/// failed and `audit verify` left the signatures unchecked. `cli::run_with_audit` picks the
/// audit settings out of the derived config.
#[test]
fn the_audit_commands_read_the_apps_own_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myapp.toml");
    std::fs::write(&file, hardened_myapp_toml()).unwrap();
    let config = |c: &mut Command| {
        c.env("RAIL_SECURITY_ENV", "production")
            .env("RAIL_SECURITY_CONFIG", &file)
            .env("MYAPP__SECURITY__DEPLOYMENT__SECRET_KEY", TEST_SECRET_KEY)
            .env("MYAPP__SECURITY__MFA__ENCRYPTION_KEY", TEST_ENCRYPTION_KEY);
    };
    let mut key = cmd();
    config(key.args(["audit", "key"]));
    let out = run(&mut key);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.split_whitespace().any(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit())),
        "{}",
        out.stdout
    );

    // A trail signed with that key verifies with its signatures checked.
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("trail.sqlite").display());
    let mut setup = cmd();
    config(setup.args(["setup", "--force", "--database-url", &url, "-c"]).arg(dir.path().join("other.toml")));
    assert_eq!(run(&mut setup).code, 0);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use rail_graphql_security::audit::checkpoint::CheckpointKey;
        use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, CheckpointPolicy};
        let db = Database::connect(&url).await.unwrap();
        // The hardened settings' `audit.checkpoint_signing_key`.
        let key = CheckpointKey::from_secret("Qm7vX2kP9tLw4Rz8Nc3Hy6Jb1Fd5Gs0A");
        let policy = CheckpointPolicy { key: Some(key), ..CheckpointPolicy::default() };
        let logger = AuditLogger::builder().database(db).checkpoints(policy).build();
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name("mallory"));
        logger.shutdown().await.unwrap();
    });
    let mut verify = cmd();
    config(verify.args(["audit", "verify", "--database-url", &url]));
    let out = run(&mut verify);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 checkpoint(s)"), "{}", out.stdout);
    assert!(!out.stdout.contains("signature(s) not checked"), "the configured key checks them: {}", out.stdout);

    // Found by an attack: a chain of forged events without a checkpoint passed as "intact".
    // Events no checkpoint signs are counted in the verdict, and `--require-signed` refuses them.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger};
        let logger = AuditLogger::builder().database(Database::connect(&url).await.unwrap()).build();
        for _ in 0..2 {
            logger.log(AuditEvent::new(AuditEventType::LoginSuccess).actor_name("admin"));
        }
        logger.flush().await.unwrap();
    });
    let mut verify = cmd();
    config(verify.args(["audit", "verify", "--database-url", &url]));
    let out = run(&mut verify);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("2 event(s) are not signed yet"), "{}", out.stdout);
    let mut strict = cmd();
    config(strict.args(["audit", "verify", "--require-signed", "--database-url", &url]));
    let out = run(&mut strict);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);

    // A configuration that does not load stops them, rather than skipping the signatures.
    let mut broken = cmd();
    broken
        .args(["audit", "verify", "--database-url", &url])
        .env("RAIL_SECURITY_CONFIG", dir.path().join("missing.toml"));
    let out = run(&mut broken);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("does not load"), "{}", out.stderr);
}

#[test]
fn setup_writes_the_derived_config_with_its_docs_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myapp.toml");
    let out = run(cmd().args(["setup", "-e", "production", "--no-migrate", "-c"]).arg(&file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("token_signing_key"), "{}", out.stdout);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("# Environment variables MYAPP__SECTION__KEY override any value here."), "{text}");
    assert!(text.contains("# Worker threads.\nworkers = 8\n"), "{text}");
    assert!(text.contains("# The plugin's standard settings.\n[security]"), "{text}");
    assert!(text.contains("[security.deployment]"), "{text}");
    // Unset values are listed as commented-out lines with their doc and type.
    assert!(text.contains("\n# API key of the payment provider.\n# payment_api_key = <a string (secret)>\n"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("payment_api_key")), "{text}");
}

async fn migrated_tables(url: &str, backend: DbBackend, schema: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name";
    let sql = if backend == DbBackend::MySql { sql.replace("$1", "?") } else { sql.to_owned() };
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [schema.into()])).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

fn backend_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) if std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") => {
            panic!("{var} is not set but RAIL_TEST_REQUIRE_BACKENDS=1")
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// The stock `setup` leaves the MFA tables to the application's `#[security_user]` migrations
/// (their `user_id` type and foreign key are the application's). It used to create the passkey
/// tables with a `BIGINT` `user_id` and no foreign key, which made the application's own
/// migration of them a silent no-op.
fn assert_no_mfa_tables(tables: &[String]) {
    let mfa: Vec<&String> = tables.iter().filter(|t| t.starts_with("mfa_") || *t == "trusted_devices").collect();
    assert!(mfa.is_empty(), "setup created MFA tables: {mfa:?}");
}

fn setup_migrates(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cmd().current_dir(dir.path()).args(["setup", "-e", "staging"]).env("DATABASE_URL", database_url));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Migrations are up to date on"), "{}", out.stdout);
    assert!(dir.path().join("security.toml").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_runs_the_migrations_on_postgres() {
    let Some(url) = backend_url("RAIL_TEST_POSTGRES_URL") else { return };
    let admin = Database::connect(&url).await.unwrap();
    let schema = format!("rail_cli_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let target = schema_url.clone();
    tokio::task::spawn_blocking(move || setup_migrates(&target)).await.unwrap();
    let tables = migrated_tables(&url, DbBackend::Postgres, &schema).await;
    admin.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.unwrap();
    assert!(tables.contains(&"audit_events".to_owned()), "{tables:?}");
    assert!(tables.contains(&"rail_security_migrations".to_owned()), "{tables:?}");
    assert_no_mfa_tables(&tables);
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_runs_the_migrations_on_mariadb() {
    let Some(url) = backend_url("RAIL_TEST_MYSQL_URL") else { return };
    let admin = Database::connect(&url).await.unwrap();
    let name = format!("rail_cli_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE `{name}`")).await.unwrap();
    let base = url.split('?').next().unwrap();
    let db_url = format!("{}/{name}", base.rsplit_once('/').map_or(base, |(b, _)| b));
    let target = db_url.clone();
    tokio::task::spawn_blocking(move || setup_migrates(&target)).await.unwrap();
    let tables = migrated_tables(&url, DbBackend::MySql, &name).await;
    admin.execute_unprepared(&format!("DROP DATABASE `{name}`")).await.unwrap();
    assert!(tables.contains(&"audit_events".to_owned()), "{tables:?}");
    assert!(tables.contains(&"rail_security_migrations".to_owned()), "{tables:?}");
    assert_no_mfa_tables(&tables);
}
