//! What runs is what is shown: conventional variable names (`#[security(env = "…")]`), the key
//! list of the derive, and the `config` command printing every key with its value and source.

use std::io::Write;

use assert_cmd::Command;
use integration_tests::myapp::MyAppConfig;
use rail_graphql_security::config::{ConfigError, SecurityConfig, Source, StandardSecurityConfig};

fn cmd() -> Command {
    let mut cmd = Command::cargo_bin("myapp-security").unwrap();
    cmd.env_clear();
    cmd
}

fn rows(stdout: &[u8]) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(stdout).unwrap().as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row for {key}"))
}

#[test]
fn the_key_list_names_every_leaf_once_with_its_variables() {
    let keys = MyAppConfig::leaf_keys();
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a key is listed twice: {names:?}");
    // Every leaf of the embedded standard config appears under `security.`.
    for standard in StandardSecurityConfig::leaf_keys() {
        let nested = format!("security.{}", standard.key);
        let key = keys.iter().find(|k| k.key == nested).unwrap_or_else(|| panic!("{nested} missing"));
        assert_eq!(key.env, format!("MYAPP__{}", nested.replace('.', "__").to_uppercase()));
        assert_eq!(key.secret, standard.secret);
    }
    let limit = keys.iter().find(|k| k.key == "security.middleware.rate_limiting.login_attempts_limit").unwrap();
    assert_eq!(limit.env_aliases, ["LOGIN_ATTEMPTS_LIMIT"]);
    let payment = keys.iter().find(|k| k.key == "payment_api_key").unwrap();
    assert_eq!(payment.env_aliases, ["PAYMENT_API_KEY"]);
    assert!(payment.secret);
    // The JSON form's leaves are exactly the listed keys: none was forgotten. An object is a
    // section when listed keys lie below it, else a table-valued leaf.
    let standard: Vec<String> = StandardSecurityConfig::leaf_keys().into_iter().map(|k| k.key).collect();
    fn walk(value: &serde_json::Value, path: &str, keys: &[String], out: &mut Vec<String>) {
        let below = format!("{path}.");
        match value {
            serde_json::Value::Object(map) if path.is_empty() || keys.iter().any(|k| k.starts_with(&below)) => {
                for (key, value) in map {
                    let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(value, &child, keys, out);
                }
            }
            _ => out.push(path.to_owned()),
        }
    }
    let json = StandardSecurityConfig::defaults(&rail_graphql_security::config::Profile::Production).to_json_redacted();
    let mut found = Vec::new();
    walk(&json, "", &standard, &mut found);
    let mut expected = standard.clone();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn a_conventional_variable_sets_its_key_and_the_prefixed_one_wins() {
    let loaded = MyAppConfig::loader()
        .env_vars([("LOGIN_ATTEMPTS_LIMIT", "9"), ("PAYMENT_API_KEY", "pk_test_1")])
        .load_with_origins()
        .unwrap();
    assert_eq!(loaded.config.security.middleware.rate_limiting.login_attempts_limit, 9);
    assert_eq!(loaded.config.payment_api_key.as_ref().unwrap().expose(), "pk_test_1");
    assert_eq!(
        loaded.source_of("security.middleware.rate_limiting.login_attempts_limit"),
        Source::Env("LOGIN_ATTEMPTS_LIMIT".into())
    );

    let both = MyAppConfig::loader()
        .env_vars([
            ("LOGIN_ATTEMPTS_LIMIT", "9"),
            ("MYAPP__SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT", "4"),
        ])
        .load()
        .unwrap();
    assert_eq!(both.security.middleware.rate_limiting.login_attempts_limit, 4);

    // An empty conventional variable is unset, not an error.
    let empty = MyAppConfig::loader().env_vars([("LOGIN_ATTEMPTS_LIMIT", " ")]).load().unwrap();
    assert_eq!(empty.security.middleware.rate_limiting.login_attempts_limit, 5);
}

#[test]
fn a_bad_conventional_variable_names_itself_and_hides_a_secret() {
    let errors = MyAppConfig::loader()
        .env_vars([("LOGIN_ATTEMPTS_LIMIT", "lots"), ("MYAPP__SECURITY__MFA__DIGTS", "8")])
        .load()
        .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.errors().len(), 2, "{text}");
    assert!(
        text.contains("environment variable LOGIN_ATTEMPTS_LIMIT: `security.middleware.rate_limiting.login_attempts_limit` must be"),
        "{text}"
    );
    assert!(text.contains("did you mean `digits`?"), "{text}");
    assert!(errors.errors().iter().any(|e| matches!(e, ConfigError::UnknownKey { .. })));
}

#[test]
fn config_command_shows_every_key_with_its_value_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myapp.toml");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "workers = 6\n\n[security.mfa]\ndigits = 8").unwrap();
    drop(file);

    let out = cmd()
        .args(["config", "--format", "json", "--config"])
        .arg(&path)
        .env("LOGIN_ATTEMPTS_LIMIT", "11")
        .env("PAYMENT_API_KEY", "pk_live_do_not_print")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pk_live_do_not_print"));
    let rows = rows(&out.stdout);
    assert_eq!(rows.len(), MyAppConfig::leaf_keys().len());

    let limit = row(&rows, "security.middleware.rate_limiting.login_attempts_limit");
    assert_eq!(limit["value"], 11);
    assert_eq!(limit["source"], "env LOGIN_ATTEMPTS_LIMIT");
    assert_eq!(limit["env"], "MYAPP__SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT");
    assert_eq!(limit["env_aliases"], serde_json::json!(["LOGIN_ATTEMPTS_LIMIT"]));

    let digits = row(&rows, "security.mfa.digits");
    assert_eq!(digits["value"], 8);
    assert_eq!(digits["source"], format!("{}:4", path.display()));
    assert_eq!(digits["source_kind"], "file");

    let workers = row(&rows, "workers");
    assert_eq!(workers["value"], 6);
    let base_url = row(&rows, "base_url");
    assert_eq!(base_url["source"], "default (development)");

    let payment = row(&rows, "payment_api_key");
    assert_eq!(payment["value"], "[REDACTED]");
    assert_eq!(payment["secret"], true);

    // `check` scores the same loaded value: the file's 8 digits pass, the env limit is read.
    let text = cmd().args(["config", "--config"]).arg(&path).env("LOGIN_ATTEMPTS_LIMIT", "11").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("security.middleware.rate_limiting.login_attempts_limit = 11    # from env LOGIN_ATTEMPTS_LIMIT"),
        "{text}"
    );
}

/// A URL that is not a secret key can still carry credentials (`https://user:pass@siem/...`,
/// `?api_key=`): `config` shows it with the password and query masked, in both forms. The
/// webhook's URL, whose path is often its credential (found by an attack on the CLI: a Slack
/// webhook was printed whole), is a secret key and not shown at all.
#[test]
fn config_command_masks_the_credentials_in_a_url() {
    let url = "https://collector:pw-do-not-print@siem.example.com/ingest?api_key=key-do-not-print";
    let webhook = "https://hooks.example.com/services/T0AB12/B0CD34/path-token-do-not-print";
    for format in [&["--format", "json"][..], &[]] {
        let out = cmd()
            .arg("config")
            .args(format)
            .env("MYAPP__BASE_URL", url)
            .env("MYAPP__SECURITY__AUDIT__WEBHOOK_URL", webhook)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(!stdout.contains("do-not-print"), "{stdout}");
        assert!(stdout.contains("https://collector:***@siem.example.com/ingest?***"), "{stdout}");
    }
    let out = cmd()
        .args(["config", "--format", "json"])
        .env("MYAPP__SECURITY__AUDIT__WEBHOOK_URL", webhook)
        .output()
        .unwrap();
    let rows = rows(&out.stdout);
    let webhook = row(&rows, "security.audit.webhook_url");
    assert_eq!((&webhook["value"], &webhook["secret"]), (&serde_json::json!("[REDACTED]"), &serde_json::json!(true)));
}

#[test]
fn a_config_wrong_in_several_places_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myapp.toml");
    std::fs::write(&path, "workers = 0\n\n[security.mfa]\ndigits = \"six\"\nisuer = \"x\"\n").unwrap();
    let out = cmd().args(["config", "--config"]).arg(&path).env("LOGIN_ATTEMPTS_LIMIT", "-1").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let problems: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(problems.len(), 4, "{stderr}");
    assert!(stderr.contains(&format!("{}:4: `security.mfa.digits` must be", path.display())), "{stderr}");
    assert!(stderr.contains("unknown key `security.mfa.isuer`; did you mean `issuer`?"), "{stderr}");
    assert!(stderr.contains("environment variable LOGIN_ATTEMPTS_LIMIT"), "{stderr}");
    assert!(stderr.contains("`workers`"), "{stderr}");
}
