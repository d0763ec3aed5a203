//! The real `rail-security` binary: every flag, text and JSON output, `--fix` on a real file,
//! `setup` with migrations on SQLite, bad input and exit codes.

use std::path::Path;

use assert_cmd::Command;

const SECRET_KEY: &str = "k8Jq2LmN4pR7sT9vW1xY3zA5bC6dE8fG0hJ2kL4mN6pQ8rS0tU2vW4xY6zA8bC0d";
const ENCRYPTION_KEY: &str = "WnI3WXEzWHA5V281Vm4xVW04VGw0U2swUmo2UWkyUGg=";

const HARDENED: &str = r#"[audit]
checkpoint_signing_key = "Qm7vX2kP9tLw4Rz8Nc3Hy6Jb1Fd5Gs0A"
checkpoint_anchor_path = "/var/lib/rail/audit-anchors.jsonl"

[mfa.sms]
provider = "sns"
sns_region = "eu-west-1"
sns_access_key_id = "AKIAEXAMPLE"
allowed_country_codes = ["1", "33"]

[deployment]
allowed_hosts = ["api.example.com"]
"#;

fn cmd() -> Command {
    let mut cmd = Command::cargo_bin("rail-security").unwrap();
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

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_prints_the_checklist_score_and_recommendations_and_fails_on_critical() {
    let out = run(cmd().args(["check", "--environment", "production"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let title = "Security Configuration Check (profile: production, config: none)";
    assert!(out.stdout.starts_with(&format!("{title}\n{}\n\n", "=".repeat(title.len()))), "{}", out.stdout);
    assert!(out.stdout.contains("\n✓ HTTPS is enforced\n"), "{}", out.stdout);
    assert!(out.stdout.contains("\n✓ Authentication middleware is properly configured\n"));
    assert!(out.stdout.contains("\n✗ Secret key is not set [critical]\n"), "{}", out.stdout);
    assert!(out.stdout.contains("\nSecurity Score: "));
    assert!(out.stdout.contains("\nRecommendations:\n1. "), "{}", out.stdout);
    assert!(out.stdout.contains("critical check(s) failed."));
    assert!(!out.stdout.contains("    why:"), "no explanations without --verbose");
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    // Development findings are informational: exit 0.
    let out = run(cmd().arg("check"));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("(profile: development, config: none)"));
    // The profile also comes from RAIL_SECURITY_ENV; the alias works.
    let out = run(cmd().arg("security_check").env("RAIL_SECURITY_ENV", "production"));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("(profile: production,"));
}

#[test]
fn a_hardened_standard_config_passes_in_production_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "security.toml", HARDENED);
    let hardened = || {
        let mut c = cmd();
        c.args(["check", "--environment", "production", "--config"])
            .arg(&file)
            .env("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", SECRET_KEY)
            .env("RAIL_SECURITY__MFA__ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("RAIL_SECURITY__MFA__SMS__SNS_SECRET_ACCESS_KEY", "sns-secret");
        c
    };
    let out = run(&mut hardened());
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("Security Score: 10/10"), "{}", out.stdout);
    assert!(!out.stdout.contains('✗'), "{}", out.stdout);
    // One weakness is enough to fail: here a missing provider credential.
    let out = run(hardened().env("RAIL_SECURITY__MFA__SMS__SNS_SECRET_ACCESS_KEY", ""));
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("✗ SMS provider credentials are missing: sns_secret_access_key [critical]"),
        "{}",
        out.stdout
    );
    let out = run(hardened().env("RAIL_SECURITY__DEPLOYMENT__INTROSPECTION", "true"));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("✗ Introspection is on in production [critical]"), "{}", out.stdout);
    // The file is found through RAIL_SECURITY_CONFIG too.
    let out = run(cmd()
        .args(["check", "-e", "production"])
        .env("RAIL_SECURITY_CONFIG", &file)
        .env("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", SECRET_KEY)
        .env("RAIL_SECURITY__MFA__ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("RAIL_SECURITY__MFA__SMS__SNS_SECRET_ACCESS_KEY", "sns-secret"));
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn verbose_explains_each_failure() {
    let out = run(cmd().args(["check", "--environment", "production", "--verbose"]));
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "✗ Secret key is not set [critical]\n    key: deployment.secret_key\n    why: Sessions and tokens signed \
             with a guessable key can be forged.\n    fix: Set deployment.secret_key to 50+ random characters"
        ),
        "{}",
        out.stdout
    );
    let out = run(cmd().args(["check", "-e", "production", "-v"]).env("RAIL_SECURITY__DEPLOYMENT__PLAYGROUND", "true"));
    assert!(
        out.stdout.contains("    fix: Set deployment.playground = false (safe: `--fix` does it)"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_output_follows_the_documented_schema() {
    let out = run(cmd().args(["check", "--environment", "production", "--format", "json"]));
    assert_eq!(out.code, 1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["profile"], "production");
    assert_eq!(json["config_file"], serde_json::Value::Null);
    assert_eq!(json["max_score"], 10);
    assert_eq!(json["passed"], false);
    let score = json["score"].as_u64().unwrap();
    assert!(score < 10);
    let checks = json["checks"].as_array().unwrap();
    let secret = checks.iter().find(|c| c["id"] == "deployment.secret_key").unwrap();
    assert_eq!(secret["passed"], false);
    assert_eq!(secret["severity"], "critical");
    assert_eq!(secret["fixable"], false);
    assert!(secret["why"].is_string() && secret["recommendation"].is_string() && secret["message"].is_string());
    let https = checks.iter().find(|c| c["id"] == "deployment.https_redirect").unwrap();
    assert_eq!((https["passed"].clone(), https["fixable"].clone()), (true.into(), true.into()));
    assert!(!json["recommendations"].as_array().unwrap().is_empty());
    assert_eq!(json["fixes"], serde_json::json!([]));
    for check in checks {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["fixable", "id", "message", "passed", "recommendation", "severity", "why"]);
    }

    let out = run(cmd().args(["check", "--format", "json"]));
    assert_eq!(out.code, 0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["passed"], true);
}

const INSECURE: &str = r#"# Our production settings -- reviewed by ops
[deployment]
playground = true     # turned on while chasing a bug
https_redirect = false
allowed_hosts = ["api.example.com"] # the public host

# Rate limits
[middleware.rate_limiting]
enabled = false
login_attempts_limit = 4
"#;

#[test]
fn fix_rewrites_the_file_keeping_comments() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "security.toml", INSECURE);
    let out = run(cmd().args(["check", "--environment", "production", "--fix", "--config"]).arg(&file));
    assert!(out.stdout.contains("Fixed: deployment.playground = false (was true)\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Fixed: deployment.https_redirect = true (was false)\n"));
    assert!(out.stdout.contains("Fixed: middleware.rate_limiting.enabled = true (was false)\n"));
    assert!(!out.stdout.contains("Fixed: deployment.introspection"), "already off in production");
    // After fixing, the report shows them passing; the secret key still fails (no safe fix).
    assert!(out.stdout.contains("✓ GraphQL playground is off in production\n"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ HTTPS is enforced\n"));
    assert!(out.stdout.contains("✗ Secret key is not set [critical]"));
    assert_eq!(out.code, 1);

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# Our production settings -- reviewed by ops\n[deployment]\n"), "{text}");
    assert!(text.contains("playground = false     # turned on while chasing a bug\n"), "{text}");
    assert!(text.contains("https_redirect = true\n"), "{text}");
    assert!(text.contains("allowed_hosts = [\"api.example.com\"] # the public host\n"), "{text}");
    assert!(
        text.contains("# Rate limits\n[middleware.rate_limiting]\nenabled = true\nlogin_attempts_limit = 4\n"),
        "{text}"
    );

    // A second run has nothing left to fix automatically.
    let out = run(cmd().args(["check", "-e", "production", "--fix", "-c"]).arg(&file));
    assert!(out.stdout.contains("Nothing to fix automatically."), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

/// Found by an attack on the CLI: a config that is a symbolic link (to a secrets mount, say)
/// was replaced by a regular file, cutting the link. `--fix` and `setup --force` now write the
/// file the link points to, and the link stays.
#[cfg(unix)]
#[test]
fn a_symlinked_config_keeps_its_link_when_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mounted = dir.path().join("mounted");
    std::fs::create_dir(&mounted).unwrap();
    let real = write(&mounted, "security.toml", INSECURE);
    let link = dir.path().join("security.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let out = run(cmd().args(["check", "-e", "production", "--fix", "-c"]).arg(&link));
    assert!(
        out.stdout.contains(
            "Fixed: deployment.playground = false (was true)
"
        ),
        "{}",
        out.stdout
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read_to_string(&real).unwrap().contains(
        "https_redirect = true
"
    ));

    let out = run(cmd().args(["setup", "--no-migrate", "--force", "--config"]).arg(&link));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read_to_string(&real).unwrap().contains("profile `development`"));
    assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o600);
    // Only the target and its folder's own files: no temporary file is left in either folder.
    let names = |d: &Path| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
    assert_eq!(names(&mounted), ["security.toml"]);
    assert_eq!(names(dir.path()).len(), 2, "the link and the mounted folder");

    // A link to nothing is an error that names the path, and creates nothing.
    let dangling = dir.path().join("dangling.toml");
    std::os::unix::fs::symlink(dir.path().join("missing.toml"), &dangling).unwrap();
    let out = run(cmd().args(["setup", "--no-migrate", "--force", "--config"]).arg(&dangling));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("dangling.toml"), "{}", out.stderr);
    assert!(!dir.path().join("missing.toml").exists());
}

#[test]
fn fix_adds_missing_keys_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "security.toml", "# empty on purpose\n");
    let out = run(cmd()
        .args(["check", "--environment", "production", "--fix", "--dry-run", "--config"])
        .arg(&file)
        .env("RAIL_SECURITY__DEPLOYMENT__PLAYGROUND", "true"));
    assert!(out.stdout.contains("Would fix: deployment.playground = false (added)\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  note: RAIL_SECURITY__DEPLOYMENT__PLAYGROUND overrides this key"), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# empty on purpose\n");

    let out = run(cmd()
        .args(["check", "-e", "production", "--fix", "--format", "json", "--config"])
        .arg(&file)
        .env("RAIL_SECURITY__MIDDLEWARE__AUTHENTICATION__ENABLED", "0"));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        json["fixes"],
        serde_json::json!([{"key": "middleware.authentication.enabled", "value": "true", "previous": null, "applied": true}])
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("# empty on purpose\n"), "{text}");
    assert!(text.contains("[middleware.authentication]\nenabled = true\n"), "{text}");
}

#[test]
fn bad_input_gives_a_one_line_error_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["check".into(), "--config".into(), "/nonexistent/s.toml".into()],
            vec![],
            "error: cannot read config file /nonexistent/s.toml",
        ),
        (
            vec!["check".into(), "--config".into(), write(dir.path(), "bad.toml", "[mfa\n").display().to_string()],
            vec![],
            "invalid TOML",
        ),
        (
            vec![
                "check".into(),
                "--config".into(),
                write(dir.path(), "typo.toml", "[mfa]\nenabeld = true\n").display().to_string(),
            ],
            vec![],
            "unknown key `mfa.enabeld`",
        ),
        (vec!["check".into()], vec![("RAIL_SECURITY__MFA__DIGITS", "six")], "`mfa.digits` must be an integer"),
        (vec!["check".into()], vec![("RAIL_SECURITY_ENV", "Prod!")], "is not a profile name"),
        (vec!["check".into(), "--fix".into()], vec![], "error: --fix needs a config file to rewrite"),
    ];
    for (args, env, expected) in cases {
        let mut c = cmd();
        c.args(&args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run(&mut c);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    // Usage errors: clap's message, exit 2.
    for args in [
        &["check", "--environment", "Prod!"][..],
        &["check", "--format", "xml"],
        &["check", "--dry-run"],
        &["frobnicate"],
    ] {
        let out = run(cmd().args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error:"), "{args:?}: {}", out.stderr);
    }
    let out = run(cmd().arg("--help"));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("check") && out.stdout.contains("setup"));
}

#[test]
fn setup_writes_a_commented_config_with_fresh_keys_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("security.toml");
    let out = run(cmd().args(["setup", "--environment", "production", "--no-migrate", "--config"]).arg(&file));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(&format!("Wrote {} (profile: production)", file.display())), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("Fresh random keys generated: audit.checkpoint_signing_key, audit.webhook_secret, deployment.secret_key, mfa.encryption_key"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Recommendations for production:\n1. "), "{}", out.stdout);
    assert!(out.stdout.contains("deployment.allowed_hosts"), "{}", out.stdout);
    assert!(!out.stdout.contains("Migrations"), "--no-migrate");

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# Security configuration, profile `production` (written by `setup`).\n"), "{text}");
    assert!(text.contains("# Redirect plain-http requests to https (HTTP 308)."), "{text}");
    assert!(text.contains("of a trusted proxy.\nhttps_redirect = true\n"), "{text}");
    assert!(
        text.contains("\n# MFA settings.\n[mfa]\n") || text.contains("# Multi-factor authentication.\n[mfa]\n"),
        "{text}"
    );
    assert!(
        text.contains("\n# webhooks (Slack's, Teams', a SIEM's ingest token) is their credential.\n# webhook_url = <a string (secret)>\n"),
        "unset keys are listed, commented out: {text}"
    );
    assert!(text.contains("[mfa.sms]\n# none, console (development only), twilio, sns (or aws_sns), or custom (the provider\n# registered on the stack builder).\nprovider = \"none\"\n# Twilio account SID.\n# twilio_account_sid = <a string>\n"), "{text}");
    let key_line = text.lines().find(|l| l.starts_with("secret_key = ")).unwrap();
    let key = key_line.trim_start_matches("secret_key = ").trim_matches('"');
    assert_eq!(key.len(), 64);
    assert!(!out.stdout.contains(key), "the key is never printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // The written file loads, and after the recommended edits (hosts, an SMS provider and its
    // countries, an anchor file) it passes in production.
    let out = run(cmd().args(["check", "-e", "production", "-c"]).arg(&file));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let edited = text
        .replace("allowed_hosts = []", "allowed_hosts = [\"api.example.com\"]")
        .replace("provider = \"none\"", "provider = \"twilio\"")
        .replace("allowed_country_codes = []", "allowed_country_codes = [\"1\"]")
        .replace("# twilio_account_sid = <a string>", "twilio_account_sid = \"AC1\"")
        .replace(
            "# checkpoint_anchor_path = <a path (string)>",
            "checkpoint_anchor_path = \"/var/lib/rail/anchors.jsonl\"",
        )
        .replace("# twilio_from_number = <a string>", "twilio_from_number = \"+15550100\"");
    std::fs::write(&file, edited).unwrap();
    let out = run(cmd()
        .args(["check", "-e", "production", "-c"])
        .arg(&file)
        .env("RAIL_SECURITY__MFA__SMS__TWILIO_AUTH_TOKEN", "twilio-token"));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("Security Score: 10/10"), "{}", out.stdout);

    // Never overwrites without --force; --force writes new keys.
    let before = std::fs::read_to_string(&file).unwrap();
    let out = run(cmd().args(["setup", "--no-migrate", "--config"]).arg(&file));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already exists; pass --force to overwrite it"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = run(cmd().args(["setup_security", "--no-migrate", "--force", "--config"]).arg(&file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.contains("profile `development`") && !after.contains(key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a rewritten key file is private again");
    }
}

#[test]
fn setup_runs_the_migrations_on_sqlite_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cmd().current_dir(dir.path()).arg("setup"));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Migrations are up to date on sqlite://rail-security.db?mode=rwc"), "{}", out.stdout);
    assert!(dir.path().join("security.toml").exists());
    let db = dir.path().join("rail-security.db");
    let bytes = std::fs::read(&db).unwrap();
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(haystack.contains("CREATE TABLE") && haystack.contains("audit_events"), "tables created");
    assert!(haystack.contains("rail_security_migrations"));

    // DATABASE_URL picks the database; running again (with --force) is idempotent.
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("other.db").display());
    let out = run(cmd().current_dir(dir.path()).args(["setup", "--force"]).env("DATABASE_URL", &url));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.path().join("other.db").exists());
    let out = run(cmd().current_dir(dir.path()).args(["setup", "--force", "--database-url", &url]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn setup_config_only_dry_run_and_unreachable_database_write_nothing_extra() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cmd().current_dir(dir.path()).args(["setup", "--config-only", "-e", "staging"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.path().join("security.toml").exists());
    assert!(!dir.path().join("rail-security.db").exists(), "--config-only does not migrate");
    assert!(!out.stdout.contains("Recommendations"), "{}", out.stdout);

    let other = tempfile::tempdir().unwrap();
    let out = run(cmd().current_dir(other.path()).args(["setup", "--dry-run", "-e", "production"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Would write security.toml (profile: production)"), "{}", out.stdout);
    assert!(out.stdout.contains("Would run migrations on sqlite://rail-security.db?mode=rwc"), "{}", out.stdout);
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0, "dry run writes nothing");

    // An unreachable database: one-line error, exit 2, and no config file written.
    let out = run(cmd()
        .current_dir(other.path())
        .args(["setup"])
        .env("DATABASE_URL", "postgres://admin:hunter2@127.0.0.1:1/nothing"));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.starts_with("error: cannot connect to the database postgres://admin:***@127.0.0.1:1/nothing"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"));
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0, "nothing half-written");

    // Found by an attack: the driver's error quoted the whole connection string, and setup
    // printed a password given as a query parameter. A password with an unencoded `#` does
    // not parse as a URL; one in the query is masked too, in the plan and in the error.
    for (url, secret) in [
        ("postgres://admin:Real#Pw1@127.0.0.1:1/db", "Real#Pw1"),
        ("postgres://admin@127.0.0.1:1/db?password=QuerySecretPw2", "QuerySecretPw2"),
    ] {
        for args in [&["setup", "--dry-run"][..], &["setup"], &["audit", "verify"]] {
            let out = run(cmd().current_dir(other.path()).args(args).env("DATABASE_URL", url));
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{args:?}: {}{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

#[test]
fn secrets_never_reach_the_output_of_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let weak = "placeholder-secret-value-that-is-long-enough-but-weak-0123456789";
    let file = write(
        dir.path(),
        "security.toml",
        &format!(
            "[deployment]\nsecret_key = \"{weak}\"\nplayground = true\n\n[audit]\nwebhook_headers = {{ Authorization = \"Bearer tok-991\" }}\n"
        ),
    );
    for args in [
        &["check", "-e", "production", "-v"][..],
        &["check", "-e", "production", "--format", "json"],
        &["check", "-e", "production", "--fix", "--dry-run", "-v"],
    ] {
        let out = run(cmd()
            .args(args)
            .arg("--config")
            .arg(&file)
            .env("RAIL_SECURITY__MFA__ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__STORE_URL", "redis://:pw-4411@127.0.0.1"));
        let all = format!("{}{}", out.stdout, out.stderr);
        for secret in [weak, "tok-991", ENCRYPTION_KEY, "pw-4411"] {
            assert!(!all.contains(secret), "{args:?} leaked {secret}: {all}");
        }
        assert!(all.contains("Secret key looks like a placeholder"), "{args:?}: {all}");
    }
    // A secret that fails to parse is not echoed either.
    let out = run(cmd().arg("check").env("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS", "Bearer tok-991"));
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains("tok-991"), "{}", out.stderr);
}

/// The events and checkpoints of a logger with `secret`'s key, written into `db_path`.
fn write_trail(db_path: &Path, secret: &str, events: usize) {
    write_anchored_trail(db_path, secret, events, None);
}

/// [`write_trail`], the checkpoints also appended to `anchors`.
fn write_anchored_trail(db_path: &Path, secret: &str, events: usize, anchors: Option<&Path>) {
    use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, CheckpointKey, CheckpointPolicy};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = sea_orm::Database::connect(format!("sqlite://{}", db_path.display())).await.unwrap();
        let policy = CheckpointPolicy {
            key: Some(CheckpointKey::from_secret(secret)),
            anchor_path: anchors.map(Path::to_path_buf),
            ..CheckpointPolicy::default()
        };
        let logger = AuditLogger::builder().database(db).checkpoints(policy).build();
        for i in 0..events {
            logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("user{i}")));
        }
        logger.shutdown().await.unwrap();
    });
}

fn execute_sql(db_path: &Path, sql: &str) {
    use sea_orm::ConnectionTrait;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = sea_orm::Database::connect(format!("sqlite://{}", db_path.display())).await.unwrap();
        db.execute_unprepared(sql).await.unwrap();
    });
}

/// A restart's checkpoint witnesses the chain before it: `audit verify` names that chain when it
/// is deleted whole, rows and checkpoints, from the database and in an export of what is left.
#[test]
fn audit_verify_names_a_chain_deleted_whole_after_a_restart() {
    let (dir, config, _, secret, db) = set_up_with_a_trail(30);
    write_trail(&db, &secret, 10);
    let audit =
        |args: &[&str]| run(cmd().current_dir(dir.path()).env("RAIL_SECURITY_CONFIG", &config).arg("audit").args(args));
    let out = audit(&["verify"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("40 event(s) in 2 chain(s), 2 checkpoint(s)"), "{}", out.stdout);

    // The first instance's chain, gone: its rows and its checkpoint (the oldest by id).
    execute_sql(
        &db,
        "DELETE FROM audit_events WHERE chain_id = (SELECT chain_id FROM audit_events ORDER BY id LIMIT 1); \
         DELETE FROM audit_checkpoints WHERE id = (SELECT MIN(id) FROM audit_checkpoints);",
    );
    let out = audit(&["verify"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("10 event(s) in 1 chain(s), 1 checkpoint(s)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("✗ deleted chain: chain ") && out.stdout.contains("witnessed it at #30"),
        "{}",
        out.stdout
    );
    let out = audit(&["verify", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["findings"][0]["detail"]["kind"], "missing_chain", "{json}");
    assert_eq!(json["findings"][0]["detail"]["seq"], 30, "{json}");

    // An export carries the witnesses: the file alone shows the same.
    let out = audit(&["export", "--output", "rest.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = audit(&["verify", "--export", "rest.jsonl"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("✗ deleted chain: chain "), "{}", out.stdout);
}

/// `setup` in a fresh directory, then `events` written with the generated signing key: the
/// directory, the config file and its parsed text, the signing secret and the database file.
fn set_up_with_a_trail(
    events: usize,
) -> (tempfile::TempDir, std::path::PathBuf, toml_edit::DocumentMut, String, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cmd().current_dir(dir.path()).arg("setup"));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let config = dir.path().join("security.toml");
    let toml: toml_edit::DocumentMut = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    let secret = toml["audit"]["checkpoint_signing_key"].as_str().expect("setup generates a signing key").to_owned();
    let db = dir.path().join("rail-security.db");
    write_trail(&db, &secret, events);
    (dir, config, toml, secret, db)
}

/// With `audit.checkpoint_anchor_path` configured, `audit verify` checks the trail against the
/// checkpoints' copies in that file: the newest events removed together with their checkpoint
/// are deleted events, where the database alone shows a shorter chain and exits 0.
#[test]
fn audit_verify_checks_the_trail_against_the_configured_anchor_file() {
    let (dir, config, mut toml, secret, db) = set_up_with_a_trail(0);
    let anchors = dir.path().join("anchors.jsonl");
    toml["audit"]["checkpoint_anchor_path"] = toml_edit::value("anchors.jsonl");
    std::fs::write(&config, toml.to_string()).unwrap();
    write_anchored_trail(&db, &secret, 10, Some(&anchors));
    write_anchored_trail(&db, &secret, 20, Some(&anchors));
    let audit =
        |args: &[&str]| run(cmd().current_dir(dir.path()).env("RAIL_SECURITY_CONFIG", &config).arg("audit").args(args));
    let out = audit(&["verify"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("30 event(s) in 2 chain(s), 2 checkpoint(s)"), "{}", out.stdout);

    // The newest instance's chain from #11 on, and its checkpoint at #20: no other checkpoint
    // came after it to witness it.
    execute_sql(
        &db,
        "DELETE FROM audit_events WHERE chain_seq > 10 AND chain_id = (SELECT chain_id FROM audit_events ORDER BY id DESC LIMIT 1); \
         DELETE FROM audit_checkpoints WHERE id = (SELECT MAX(id) FROM audit_checkpoints);",
    );
    let moved = dir.path().join("elsewhere.jsonl");
    std::fs::rename(&anchors, &moved).unwrap();
    let out = audit(&["verify"]);
    assert_eq!(out.code, 0, "without the anchors nothing shows: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("! the anchor file anchors.jsonl (audit.checkpoint_anchor_path) does not exist"),
        "but the missing file is reported: {}",
        out.stdout
    );
    std::fs::rename(&moved, &anchors).unwrap();
    let out = audit(&["verify"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("✗ deleted: events #11–#20 of chain "), "{}", out.stdout);
    let out = audit(&["verify", "--anchors", "elsewhere.jsonl"]);
    assert_eq!(out.code, 2, "an explicit anchor file must exist: {}", out.stderr);
    assert!(out.stderr.contains("cannot read the anchor file elsewhere.jsonl"), "{}", out.stderr);
    std::fs::write(dir.path().join("bad.jsonl"), "{\"checkpoint\": 3}\n").unwrap();
    let out = audit(&["verify", "--anchors", "bad.jsonl"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line 1 is not a checkpoint"), "{}", out.stderr);

    // Found by an attack: a device never ends (out of memory reading `/dev/zero` as one line),
    // a FIFO blocks the second open, and a file of one endless line is read whole. Each is now
    // a usage error.
    let fifo = dir.path().join("trail.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo = fifo.to_str().unwrap();
    for args in [
        &["verify", "--export", "/dev/zero"][..],
        &["verify", "--anchors", "/dev/zero"],
        &["verify", "--export", fifo],
        &["verify", "--anchors", fifo],
    ] {
        let out = audit(args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("not a regular file"), "{args:?}: {}", out.stderr);
    }
    let endless = dir.path().join("endless.jsonl");
    let file = std::fs::File::create(&endless).unwrap();
    file.set_len(65 * 1024 * 1024).unwrap();
    for flag in ["--export", "--anchors"] {
        let out = audit(&["verify", flag, "endless.jsonl"]);
        assert_eq!(out.code, 2, "{flag}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("line 1 is longer than 64 MiB"), "{flag}: {}", out.stderr);
    }
    // An inverted range verified nothing and read "intact".
    let out = audit(&["verify", "--from", "2026-12-08", "--to", "2026-12-01"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("is not before --to"), "{}", out.stderr);
}

#[test]
fn audit_verify_checks_the_configured_database_with_the_configured_key() {
    let (dir, config, _, secret, db) = set_up_with_a_trail(30);
    let audit =
        |args: &[&str]| run(cmd().current_dir(dir.path()).env("RAIL_SECURITY_CONFIG", &config).arg("audit").args(args));

    // The verifying key to publish is the configured key's public half.
    let out = audit(&["key"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let public = rail_graphql_security::audit::CheckpointKey::from_secret(&secret).verifying_key_hex();
    assert_eq!(out.stdout.trim(), public);

    let out = audit(&["verify"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("30 event(s) in 1 chain(s), 1 checkpoint(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ intact"), "{}", out.stdout);

    // An export verifies on its own, also where only the public key is known.
    let out = audit(&["export", "--output", "trail.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Wrote 31 line(s)"), "{}", out.stdout);
    let out = run(cmd().current_dir(dir.path()).args([
        "audit",
        "verify",
        "--export",
        "trail.jsonl",
        "--verifying-key",
        &public,
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // Tampering: exit code 1, the finding named, in text and JSON.
    execute_sql(&db, "UPDATE audit_events SET actor_name = 'mallory' WHERE chain_seq = 3");
    let out = audit(&["verify"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("✗ modified: event") && out.stdout.contains("#3), field actor_name"), "{}", out.stdout);
    let out = audit(&["verify", "--format", "json"]);
    assert_eq!(out.code, 1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["intact"], false);
    assert_eq!(json["findings"][0]["detail"]["kind"], "modified");
    assert_eq!(json["findings"][0]["detail"]["fields"], serde_json::json!(["actor_name"]));

    // Another key: the checkpoint does not verify.
    let other = rail_graphql_security::audit::CheckpointKey::from_secret("another key").verifying_key_hex();
    let out = audit(&["verify", "--export", "trail.jsonl", "--verifying-key", &other]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("forged checkpoint"), "{}", out.stdout);

    // Usage and connection errors: exit code 2, one line saying what to do.
    for args in [
        &["verify", "--verifying-key", "not-hex"][..],
        &["verify", "--database-url", "sqlite:///nonexistent-dir/none.db"],
        &["verify", "--export", "missing.jsonl"],
    ] {
        let out = audit(args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.starts_with("error:") && out.stderr.lines().count() == 1, "{args:?}: {}", out.stderr);
    }
    let out = audit(&["verify", "--from", "yesterday"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not a time"), "{}", out.stderr);
}

#[test]
fn audit_verify_after_a_key_rotation_trusts_the_configured_previous_keys() {
    let (dir, config, mut toml, old_secret, db) = set_up_with_a_trail(30);
    let audit =
        |args: &[&str]| run(cmd().current_dir(dir.path()).env("RAIL_SECURITY_CONFIG", &config).arg("audit").args(args));
    let old_public = audit(&["key"]).stdout.trim().to_owned();

    // The rotation: a new signing key, the old verifying key listed as a previous key.
    let new_secret = "the rotated checkpoint signing secret, 32+ characters long";
    toml["audit"]["checkpoint_signing_key"] = toml_edit::value(new_secret);
    let mut previous = toml_edit::Array::new();
    previous.push(old_public.as_str());
    toml["audit"]["checkpoint_previous_keys"] = toml_edit::value(previous);
    std::fs::write(&config, toml.to_string()).unwrap();
    write_trail(&db, new_secret, 20);
    let out = audit(&["verify"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("50 event(s) in 2 chain(s), 2 checkpoint(s)"), "{}", out.stdout);

    // Without the previous key, the old chain's checkpoint is forged, naming its key.
    toml["audit"].as_table_mut().unwrap().remove("checkpoint_previous_keys");
    std::fs::write(&config, toml.to_string()).unwrap();
    let out = audit(&["verify"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let old_id = rail_graphql_security::audit::checkpoint::key_id(
        &rail_graphql_security::audit::CheckpointKey::from_secret(&old_secret).verifying_key(),
    );
    assert!(out.stdout.contains("forged checkpoint") && out.stdout.contains(&old_id), "{}", out.stdout);
    // The flag does the same as the setting.
    let out = audit(&["verify", "--previous-key", &old_public]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // With the time the old key was retired: what it signed before verifies; a retirement
    // before its checkpoint was made makes that checkpoint forged (a leaked old secret
    // signing after its retirement looks the same).
    let out = audit(&["verify", "--previous-key", &format!("{old_public}@2999-01-01T00:00:00Z")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = audit(&["verify", "--previous-key", &format!("{old_public}@2020-01-01T00:00:00Z")]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("forged checkpoint") && out.stdout.contains("was retired at 2020-01-01"),
        "{}",
        out.stdout
    );

    // A malformed entry: a usage error (exit 2) that says what to list, from the flag and from
    // the configuration alike.
    let out = audit(&["verify", "--previous-key", "nope"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--previous-key `nope`: a verifying key is 64 hex digits"), "{}", out.stderr);
    let mut bad = toml_edit::Array::new();
    bad.push("nope");
    toml["audit"]["checkpoint_previous_keys"] = toml_edit::value(bad);
    std::fs::write(&config, toml.to_string()).unwrap();
    let out = audit(&["verify"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("checkpoint_previous_keys") && out.stderr.contains("`audit key` printed"),
        "{}",
        out.stderr
    );
}
