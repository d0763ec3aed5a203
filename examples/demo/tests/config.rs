//! The configuration is the single source of truth: the server started with a changed login
//! limit (a documented variable) and a TOML file changing another key runs with both, `demo
//! config` shows both with their sources, and `demo check` scores those same values.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Killed, demo};

/// The same environment for every command of the test: what the server runs with.
fn configured(dir: &std::path::Path, file: &std::path::Path) -> Command {
    let mut cmd = demo(dir);
    cmd.env("LOGIN_ATTEMPTS_LIMIT", "2").env("RAIL_SECURITY_CONFIG", file).env("BIND_ADDR", "127.0.0.1:0");
    cmd
}

fn rows(output: &std::process::Output) -> Vec<Value> {
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row for {key}"))
}

#[tokio::test]
async fn the_server_config_and_check_agree_on_the_loaded_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    std::fs::write(
        &file,
        "# the demo's settings\n[security.deployment]\nhsts_seconds = 63072000\nintrospection = false\n",
    )
    .unwrap();

    // `config` shows both changed values, each with where it came from.
    let shown = rows(&configured(dir.path(), &file).args(["config", "--format", "json"]).output().unwrap());
    let limit = row(&shown, "security.middleware.rate_limiting.login_attempts_limit");
    assert_eq!(limit["value"], 2);
    assert_eq!(limit["source"], "env LOGIN_ATTEMPTS_LIMIT");
    let hsts = row(&shown, "security.deployment.hsts_seconds");
    assert_eq!(hsts["value"], 63_072_000);
    assert_eq!(hsts["source"], format!("{}:3", file.display()));
    let introspection = row(&shown, "security.deployment.introspection");
    assert_eq!(introspection["value"], false);
    assert_eq!(introspection["source"], format!("{}:4", file.display()));
    let jwt = row(&shown, "security.deployment.secret_key");
    assert_eq!(jwt["env_aliases"], json!(["JWT_SECRET"]));

    // `check` scores the same loaded value: the file's two-year HSTS passes, where the
    // development default (no HSTS) fails.
    let checked = configured(dir.path(), &file).args(["check", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&checked.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&checked.stderr)));
    let redirect = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().is_some_and(|id| id.ends_with("deployment.hsts_seconds")))
        .unwrap_or_else(|| panic!("no hsts_seconds check: {report}"));
    assert_eq!(redirect["passed"], true, "{report}");
    let unchanged = demo(dir.path()).args(["check", "--format", "json"]).output().unwrap();
    let unchanged: Value = serde_json::from_slice(&unchanged.stdout).unwrap();
    let default_redirect = unchanged["checks"].as_array().unwrap().iter().find(|c| c["id"] == redirect["id"]).unwrap();
    assert_eq!(default_redirect["passed"], false, "the development default fails the same check");

    // The server runs with them: the third login of `demo` within the window is refused.
    let mut child =
        Killed(configured(dir.path(), &file).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut printed = String::new();
        let mut lines = BufReader::new(stdout).lines();
        while started.elapsed() < Duration::from_secs(120) {
            let Some(Ok(line)) = lines.next() else { break };
            printed.push_str(&line);
            printed.push('\n');
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://") && w.ends_with("/graphql")) {
                let url = url.to_owned();
                std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
                return url;
            }
        }
        panic!("the server did not print its address: {printed}");
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let body: Value = client
            .post(&url)
            .json(&json!({ "query": "mutation { login(username: \"demo\", password: \"wrong-password\") { token } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(codes, ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]);

    // The file's settings are in force: HSTS is sent, introspection is refused.
    let response = client.post(&url).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    let hsts = response.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
    assert!(hsts.as_deref().is_some_and(|v| v.contains("max-age=63072000")), "{hsts:?}");
    let body: Value = client
        .post(&url)
        .json(&json!({ "query": "{ __schema { queryType { name } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["data"]["__schema"].is_null(), "introspection is off: {body}");
}

#[test]
fn a_config_wrong_in_several_places_stops_the_server_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    std::fs::write(&file, "[security.mfa]\ndigits = \"six\"\nisuer = \"x\"\n").unwrap();
    let output = demo(dir.path())
        .env("RAIL_SECURITY_CONFIG", &file)
        .env("LOGIN_ATTEMPTS_LIMIT", "many")
        .env("BIND_ADDR", "not-an-address")
        .env("JWT_SECRET", "")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        &format!("{}:2: `security.mfa.digits` must be", file.display()) as &str,
        "unknown key `security.mfa.isuer`; did you mean `issuer`?",
        "environment variable LOGIN_ATTEMPTS_LIMIT: `security.middleware.rate_limiting.login_attempts_limit` must be",
        "environment variable BIND_ADDR: `bind_addr` `not-an-address` is not an address",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!dir.path().join("demo-data/demo.sqlite").exists(), "nothing started");
}

#[test]
fn production_refuses_the_published_passwords_and_missing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path()).env("RAIL_SECURITY_ENV", "production").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for var in ["DEMO_PASSWORD", "ADMIN_PASSWORD", "JWT_SECRET", "MFA_ENCRYPTION_KEY"] {
        assert!(stderr.contains(&format!("{var} must be set in production")), "{var}: {stderr}");
    }
}

/// Issue 14, item 4: set to the documented defaults or to low-entropy material, the passwords
/// and the signing key are refused in production, one line each saying why, never the value.
#[test]
fn production_refuses_default_passwords_and_low_entropy_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let weak_jwt = "a".repeat(48);
    let output = demo(dir.path())
        .env("RAIL_SECURITY_ENV", "production")
        .env("DEMO_PASSWORD", demo::DEFAULT_DEMO_PASSWORD)
        .env("ADMIN_PASSWORD", "abcdefghijklmnop")
        .env("JWT_SECRET", &weak_jwt)
        .env("MFA_ENCRYPTION_KEY", "q8Vd2LmT7xRb1NwZ4cHs9GkP0yFj6EaU3oIt5MnBv+0=")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEMO_PASSWORD is a documented default password"), "{stderr}");
    assert!(stderr.contains("ADMIN_PASSWORD is too weak for production"), "{stderr}");
    assert!(stderr.contains("JWT_SECRET is too weak for production"), "{stderr}");
    assert!(stderr.contains("openssl rand -base64 48"), "{stderr}");
    for value in [demo::DEFAULT_DEMO_PASSWORD, "abcdefghijklmnop", weak_jwt.as_str()] {
        assert!(!stderr.contains(value), "a secret was quoted: {stderr}");
    }
}
