//! The `demo` binary as a user runs it: `cargo run -p demo` serves GraphQL on `BIND_ADDR` with
//! the passwords it prints, and the `security_check` / `setup_security` / `simulate` subcommands.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Killed, demo};

#[tokio::test]
async fn serve_prints_its_address_and_passwords_and_answers_logins() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(
        demo(dir.path())
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DEMO_PASSWORD", "a-custom-demo-pass")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // Everything the server prints after its banner (development SMS codes among it).
    let (later_lines, printed_later) = std::sync::mpsc::channel::<String>();
    let (url, printed) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut printed = String::new();
        let mut lines = BufReader::new(stdout).lines();
        while started.elapsed() < Duration::from_secs(120) {
            let Some(Ok(line)) = lines.next() else { break };
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("SMS") {
                let url = printed
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned)
                    .expect("the GraphQL URL is printed");
                // Keep reading so the server never writes into a closed pipe.
                std::thread::spawn(move || {
                    for line in lines.map_while(Result::ok) {
                        let _ = later_lines.send(line);
                    }
                });
                return (url, printed);
            }
        }
        panic!("the server did not print its banner: {printed}");
    })
    .await
    .unwrap();

    // The passwords in force are printed; the default admin one is documented.
    assert!(printed.contains("demo / a-custom-demo-pass"), "{printed}");
    assert!(printed.contains(&format!("admin / {}", demo::DEFAULT_ADMIN_PASSWORD)), "{printed}");
    assert!(printed.contains("codes are printed here"), "{printed}");
    assert!(printed.contains("/security"), "the dashboard address is printed: {printed}");
    // SQLite file and development secrets under demo-data/.
    assert!(dir.path().join("demo-data/demo.sqlite").exists());
    assert!(dir.path().join("demo-data/jwt.secret").exists());
    // Issue 14, item 12: the generated secrets are readable by their owner only.
    #[cfg(unix)]
    for file in ["jwt.secret", "mfa.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("demo-data").join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "demo-data/{file} is mode {mode:o}");
    }

    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        client.post(&url).json(&json!({
            "query": "mutation($p: String!) { login(username: \"demo\", password: $p) { token mfaRequired } }",
            "variables": { "p": password },
        }))
    };
    let body: Value = login("a-custom-demo-pass").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["login"]["mfaRequired"], false, "{body}");
    let token = body["data"]["login"]["token"].as_str().unwrap();
    // The default password no longer works once DEMO_PASSWORD is set.
    let body: Value = login("demo-password").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_CREDENTIALS", "{body}");

    let response =
        client.post(&url).bearer_auth(token).json(&json!({ "query": "{ secretNote }" })).send().await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "MFA_REQUIRED", "{body}");

    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

    // SMS in development: the console provider prints the code on the server's standard
    // output; that code confirms the phone and the fresh token opens the secret note.
    let gql = |token: String, query: &'static str, variables: Value| {
        let request = client.post(&url).bearer_auth(token).json(&json!({ "query": query, "variables": variables }));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = gql(
        token.to_owned(),
        "mutation { setupSms(phoneNumber: \"+15550100123\", deviceName: \"phone\") { success } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["setupSms"]["success"], true, "{body}");
    let sms = tokio::task::spawn_blocking(move || {
        loop {
            let line = printed_later.recv_timeout(Duration::from_secs(30)).expect("the SMS is printed");
            if line.contains("development SMS to") {
                return line;
            }
        }
    })
    .await
    .unwrap();
    assert!(sms.contains("+15550100123"), "{sms}");
    let code: String = sms
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {sms:?}"))
        .to_owned();
    let body =
        gql(token.to_owned(), "mutation($c: String!) { verifySms(code: $c) { success token } }", json!({ "c": code }))
            .await;
    assert_eq!(body["data"]["verifySms"]["success"], true, "{body}");
    let fresh = body["data"]["verifySms"]["token"].as_str().expect("a fresh token").to_owned();
    let body = gql(fresh, "{ secretNote }", json!({})).await;
    assert_eq!(body["data"]["secretNote"], demo::schema::SECRET_NOTE, "{body}");
}

#[test]
fn security_check_and_setup_security_are_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path()).args(["security_check", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["profile"], "development");
    assert_eq!(output.status.code(), Some(if report["passed"] == true { 0 } else { 1 }));

    let url = format!("sqlite://{}?mode=rwc", dir.path().join("setup.sqlite").display());
    let output = demo(dir.path()).args(["setup_security", "--database-url", &url]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let written = std::fs::read_to_string(dir.path().join("security.toml")).unwrap();
    assert!(written.contains("[security.middleware"), "{written}");
    // Running it again refuses to overwrite the file.
    let again = demo(dir.path()).args(["setup_security", "--config-only"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"), "{}", String::from_utf8_lossy(&again.stderr));

    let usage = demo(dir.path()).arg("no-such-command").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("security_check")
            || String::from_utf8_lossy(&usage.stderr).contains("Usage")
    );
}

#[test]
fn simulate_prints_a_security_report() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path()).arg("simulate").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("failed logins          12"), "{stdout}");
    assert!(stdout.contains("security score"), "{stdout}");
}

#[test]
fn audit_verify_checks_the_demo_database_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path()).arg("simulate").output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("demo-data/audit-checkpoint.key").exists(), "a development signing key is kept");
    let output = demo(dir.path()).args(["audit", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("demo-data/demo.sqlite") && stdout.contains("✓ intact"), "{stdout}");
    assert!(!stdout.contains("not checked"), "signatures are checked with the demo's key: {stdout}");
    // The demo's own trail, edited behind its back.
    let url = format!("sqlite://{}", dir.path().join("demo-data/demo.sqlite").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(url).await.unwrap();
        db.execute_unprepared("UPDATE audit_events SET actor_name = 'x' WHERE chain_seq = 2").await.unwrap();
        // Found by an attack: a stored value printed raw into the terminal. This id cleared the
        // screen, printed a green "intact" and hid the real verdict (SGR 8, concealed).
        let hostile = "\u{1b}[2J\u{1b}[H\u{1b}[32m✓ intact: no tampering found\u{1b}[8m";
        db.execute_unprepared(&format!("UPDATE audit_events SET id = '{hostile}' WHERE chain_seq = 3")).await.unwrap();
    });
    let output = demo(dir.path()).args(["audit", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("#2), field actor_name"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no escape sequence reaches the terminal: {stdout:?}");
    assert!(stdout.contains("\\u{1b}[2J"), "the stored value is shown escaped: {stdout}");
}

/// Found by an attack on the audit trail: SIGTERM (what systemd, Docker and Kubernetes send to
/// stop a service) killed the server at once. Events of requests it had answered were lost
/// (21 of 3,295 in the attack) and no final checkpoint was signed; Ctrl-C lost nothing. Now
/// both stop it the same way: every answered request has its event, and the trail verifies
/// with nothing left unsigned.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_stores_every_answered_event_and_signs_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(
        demo(dir.path())
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (url, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = String::new();
        while let Some(Ok(line)) = lines.next() {
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("SMS") {
                let url = printed.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_owned);
                return (url.expect("the GraphQL URL is printed"), lines);
            }
        }
        panic!("the server did not print its banner: {printed}");
    })
    .await
    .unwrap();

    // Anonymous reads of the secret note, 16 at a time, each one audited.
    let client = reqwest::Client::new();
    let mut answered = 0;
    for _ in 0..25 {
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..16 {
            reads.spawn(client.post(&url).json(&json!({ "query": "{ secretNote }" })).send());
        }
        while let Some(response) = reads.join_next().await {
            let body: Value = response.unwrap().expect("an answer").json().await.expect("JSON");
            assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
            answered += 1;
        }
    }
    // Stopped at once after the last answer, with events still queued.
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let printed =
        tokio::task::spawn_blocking(move || rest.map_while(Result::ok).collect::<Vec<_>>().join("\n")).await.unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the server cleanly: {status:?}\n{printed}");
    assert!(printed.contains("stopped; audit events written"), "{printed}");

    let url = format!("sqlite://{}", dir.path().join("demo-data/demo.sqlite").display());
    let stored: i64 = tokio::runtime::Handle::current()
        .spawn(async move {
            use sea_orm::ConnectionTrait;
            let db = sea_orm::Database::connect(url).await.unwrap();
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM audit_events WHERE event_type = 'secret_note_read'",
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        })
        .await
        .unwrap();
    assert_eq!(stored, answered, "every answered read has its event");
    let output = demo(dir.path()).args(["audit", "verify"]).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(!report.contains("not yet signed"), "the final checkpoint signs the whole trail: {report}");
}
