//! Issue 14, items 3 and 9, reproduced against the demo server over real HTTP:
//! - SMS pumping: one request with 20 aliased `setupSms` to 20 numbers used to send 20 SMS
//!   (each alias made a new device, so the resend interval never applied); now the request is
//!   refused whole, and 20 separate requests stop at the per-user quota;
//! - SMS to any country, whatever the operator allows;
//! - guessing that never stopped: each 15-minute lockout restarted the failure count, so about
//!   96 guesses a day went on for ever. The test lets each lockout window pass by clearing
//!   `locked_until` in the database and the per-minute call limit of `verifyTotp` (what the
//!   clock would do), instead of sleeping.

mod e2e;

use std::sync::Arc;

use e2e::{Phone, Server, error_code, events, test_config};
use integration_tests::{Backend, TestDb, totp_now};
use rail_graphql_security::context::{Principal, SecurityContext};
use rail_graphql_security::mfa::MfaConfig;
use rail_graphql_security::mfa::graphql::VERIFY_LIMIT;
use rail_graphql_security::rate_limit::reset_resolver_limit;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

/// The demo with its default settings, changed by `configure`, SMS codes going to a [`Phone`].
async fn start(configure: impl FnOnce(&mut demo::Settings)) -> (TestDb, Server, Arc<Phone>) {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let phone = Arc::new(Phone::default());
    let mut settings = test_config(&t.url);
    configure(&mut settings);
    let server = Server::start_with_sms(&settings, t.db.clone(), phone.clone()).await;
    (t, server, phone)
}

fn errors(body: &Value) -> Vec<Value> {
    body["errors"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn twenty_aliased_setup_sms_send_no_more_than_the_quota() {
    let (_t, server, phone) = start(|_| {}).await;
    let (token, _) = server.login("demo", DEMO, None).await;
    let setup =
        |i: usize| format!(r#"s{i}: setupSms(phoneNumber: "+1415555{i:04}", deviceName: "phone {i}") {{ success }} "#);

    // One request of 20 aliases: `setupSms` may appear once per request, so the whole request
    // is refused before any resolver runs.
    let aliases: String = (0..20).map(setup).collect();
    let body = server.gql(Some(&token), &format!("mutation {{ {aliases} }}"), json!({})).await;
    assert_eq!(error_code(&body), Some("FIELD_REPEATED"), "{body}");
    assert_eq!(phone.messages().len(), 0, "no SMS for a refused request: {body}");

    // The same 20 setups as 20 concurrent requests: the per-user quota sends 3.
    let requests = (0..20).map(|i| {
        let query = format!("mutation {{ {} }}", setup(i));
        let (server, token) = (&server, &token);
        async move { server.gql(Some(token), &query, json!({})).await }
    });
    let bodies = futures::future::join_all(requests).await;

    let quota = usize::try_from(MfaConfig::default().sms_quotas.per_user.limit).unwrap();
    assert_eq!(quota, 3, "the documented default");
    assert_eq!(phone.messages().len(), quota, "SMS sent for 20 setups: {bodies:?}");
    let refused: Vec<Value> = bodies.iter().flat_map(errors).collect();
    assert_eq!(refused.len(), 20 - quota, "{bodies:?}");
    for error in &refused {
        assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{error}");
        assert_eq!(error["extensions"]["limit"], "sms_per_user", "{error}");
        assert!(error["extensions"]["retryAfter"].as_i64().is_some_and(|s| (1..=3600).contains(&s)), "{error}");
    }

    // Asking again at once for a code is refused too (the resend interval of the pending
    // device; the runtime tests show that resends count against the quotas as well).
    let body = server.gql(Some(&token), "mutation { sendSmsCode { success } }", json!({})).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    assert_eq!(phone.messages().len(), quota, "no SMS beyond the quota");

    // Refused setups left no device behind: only accepted enrolments are pending (concurrent
    // ones may each leave theirs), never more than the pending-device cap.
    let body = server.gql(Some(&token), "{ mfaDevices { deviceType confirmed } }", json!({})).await;
    let devices = body["data"]["mfaDevices"].as_array().expect("devices");
    let cap = usize::try_from(MfaConfig::default().max_pending_devices).unwrap();
    assert!((1..=quota.min(cap)).contains(&devices.len()), "{body}");
    assert!(devices.iter().all(|d| *d == json!({ "deviceType": "SMS", "confirmed": false })), "{body}");

    // Every refusal is audited, naming the quota.
    server.demo.logger.flush().await.expect("flush");
    let limited = events(&server.demo.db)
        .await
        .into_iter()
        .filter(|(kind, details)| kind == "rate_limit_exceeded" && details["limit_type"] == "sms_per_user")
        .count();
    assert_eq!(limited, 20 - quota);
}

#[tokio::test]
async fn sms_to_a_country_outside_the_allow_list_is_refused() {
    let (_t, server, phone) = start(|settings| {
        settings.config.security.mfa.sms.allowed_country_codes = vec!["1".to_owned(), "33".to_owned()];
    })
    .await;
    let (token, _) = server.login("demo", DEMO, None).await;
    let setup = "mutation($p: String!) { setupSms(phoneNumber: $p, deviceName: \"phone\") { success } }";

    let body = server.gql(Some(&token), setup, json!({ "p": "+44 7700 900123" })).await;
    assert_eq!(error_code(&body), Some("SMS_COUNTRY_NOT_ALLOWED"), "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("country")), "{body}");
    assert!(phone.messages().is_empty(), "nothing sent to +44");

    let body = server.gql(Some(&token), setup, json!({ "p": "+33 6 12 34 56 78" })).await;
    assert_eq!(body["data"]["setupSms"]["success"], true, "{body}");
    assert_eq!(phone.messages()[0].0, "+33612345678");
}

/// `(event_type, details)` of the `account_locked` events so far.
async fn lock_events(server: &Server) -> Vec<Value> {
    server.demo.logger.flush().await.expect("flush");
    events(&server.demo.db).await.into_iter().filter(|(kind, _)| kind == "account_locked").map(|(_, d)| d).collect()
}

#[tokio::test]
async fn guessing_stops_for_good_after_100_consecutive_failures_until_a_backup_code() {
    let (t, server, _phone) = start(|_| {}).await;
    let verify = "mutation($c: String!) { verifyTotp(code: $c) { success token } }";
    let (token, _) = server.login("demo", DEMO, None).await;
    let body = server
        .gql(Some(&token), r#"mutation { setupTotp(deviceName: "phone") { secretKey backupCodes } }"#, json!({}))
        .await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().expect("secretKey").to_owned();
    let backup: Vec<String> = serde_json::from_value(body["data"]["setupTotp"]["backupCodes"].clone()).unwrap();
    let body = server.gql(Some(&token), verify, json!({ "c": totp_now(&secret, 0) })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "{body}");

    // The attacker has the password and guesses codes, waiting out every lockout.
    let (attacker, mfa_required) = server.login("demo", DEMO, None).await;
    assert!(mfa_required);
    let valid: Vec<String> = (-1..=2).map(|offset| totp_now(&secret, offset)).collect();
    let wrong = ["000000", "111111", "222222", "333333", "444444"]
        .into_iter()
        .find(|c| !valid.iter().any(|v| v == c))
        .expect("a wrong code");
    let row = t.db.query_one_raw(Statement::from_string(
        t.db.get_database_backend(),
        "SELECT id FROM users WHERE username = 'demo'",
    ));
    let demo_id: i64 = row.await.expect("query").expect("the demo user").try_get("", "id").expect("id");
    let caller =
        SecurityContext::authenticated(Principal::new(demo_id, "demo")).with_client_ip("127.0.0.1".parse().ok());
    let window_passes = || async {
        // The attacker guesses from the user's own address (every test client is 127.0.0.1),
        // so the guesses count with the known addresses' lockout.
        t.db.execute_unprepared("UPDATE mfa_throttle SET locked_until = NULL, known_locked_until = NULL")
            .await
            .expect("let the lockout pass");
        let limiter = server.demo.security.request_limiter();
        reset_resolver_limit(limiter, "Mutation", "verifyTotp", &VERIFY_LIMIT, Some(&caller)).await.expect("reset");
    };
    let max = MfaConfig::default().max_consecutive_failures;
    assert_eq!(max, 100, "the NIST SP 800-63B ceiling is the default");
    for guess in 1..=max {
        window_passes().await;
        let body = server.gql(Some(&attacker), verify, json!({ "c": wrong })).await;
        assert_eq!(error_code(&body), Some("INVALID_CODE"), "guess {guess}: {body}");
    }
    let hard_locks =
        || async { lock_events(&server).await.into_iter().filter(|d| d["locked_until"].is_null()).collect::<Vec<_>>() };
    let locks = lock_events(&server).await;
    assert!(locks.len() > 1, "timed lockouts along the way: {locks:?}");
    let hard = hard_locks().await;
    assert_eq!(hard.len(), 1, "{locks:?}");
    assert_eq!(locks.last(), hard.first(), "the 100th failure started the hard lock");
    assert!(hard[0]["reason"].as_str().is_some_and(|r| r.contains("until recovery")), "{hard:?}");

    // However many windows pass, not even the right code is checked any more.
    for _ in 0..3 {
        window_passes().await;
        let body = server.gql(Some(&attacker), verify, json!({ "c": totp_now(&secret, 1) })).await;
        assert_eq!(error_code(&body), Some("MFA_LOCKED"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["lockedUntilRecovery"], true, "{body}");
    }
    assert_eq!(hard_locks().await.len(), 1, "the hard lock is audited once");

    // The owner recovers with a backup code; the authenticator app works again after it.
    window_passes().await;
    let body = server
        .gql(
            Some(&attacker),
            "mutation($c: String!) { verifyBackupCode(code: $c) { success } }",
            json!({ "c": backup[0] }),
        )
        .await;
    assert_eq!(body["data"]["verifyBackupCode"]["success"], true, "{body}");
    let (owner, _) = server.login("demo", DEMO, None).await;
    let body = server.gql(Some(&owner), verify, json!({ "c": totp_now(&secret, 1) })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "{body}");
}

/// Found by an attack over HTTP: device names took the invisible marks that turn the direction
/// of text (`"\u{202E}gnp.exe"` shows as `exe.png`), so a name in a device list could pass for
/// another. They are refused like control characters. A trusted device named after the
/// User-Agent (no `deviceName` given) drops the characters a name may not hold instead: the
/// factor is already spent then, and the client did not choose the name.
#[tokio::test]
async fn device_names_hold_no_text_direction_marks() {
    let (_t, server, _phone) = start(|_| {}).await;
    let (token, _) = server.login("demo", DEMO, None).await;
    for name in ["\u{202E}gnp.exe", "Phone\u{2067}", "a\u{200F}b"] {
        let body = server
            .gql(Some(&token), "mutation($n: String!) { setupTotp(deviceName: $n) { success } }", json!({ "n": name }))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{name:?}: {body}");
    }
    let body =
        server.gql(Some(&token), r#"mutation { setupTotp(deviceName: "Phone") { secretKey } }"#, json!({})).await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();

    // A tab is a control character; HTTP allows it in a header (a User-Agent that is not ASCII
    // is not read at all). It made the trusted device's name invalid, failing the mutation
    // after the code was spent.
    let agent = reqwest::header::HeaderValue::from_static("Browser\t1.0");
    let client = reqwest::Client::builder().user_agent(agent).build().unwrap();
    let query = "mutation($c: String!) { verifyTotp(code: $c, trustDevice: true) { deviceId token } }";
    let body: Value = client
        .post(&server.url)
        .bearer_auth(&token)
        .json(&json!({ "query": query, "variables": { "c": totp_now(&secret, 0) } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified = body["data"]["verifyTotp"]["token"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(body["data"]["verifyTotp"]["deviceId"].is_string(), "{body}");
    let devices = server.gql(Some(verified), "{ trustedDevices { deviceName } }", json!({})).await;
    let name = devices["data"]["trustedDevices"][0]["deviceName"].as_str().unwrap_or_else(|| panic!("{devices}"));
    assert_eq!(name, "Browser1.0");
}

/// Found as a gap of the throttle: wrong codes sent by whoever had only the password locked the
/// user's second factor from everywhere, 15 minutes at a time and for good after 100 (a denial
/// of service). Failures from an address the user never passed from now lock those addresses
/// only; the user, back at an address they passed from, still passes. Guessing stays bounded:
/// every unknown address shares one lockout.
#[tokio::test]
async fn wrong_codes_from_elsewhere_do_not_lock_the_user_out_at_home() {
    let (t, server, _phone) = start(|_| {}).await;
    let verify = "mutation($c: String!) { verifyTotp(code: $c) { success token } }";
    let home: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let travelling: std::net::IpAddr = "127.0.0.3".parse().unwrap();

    // The user enrols from home: the first code passes there.
    let (token, _) = server.login("demo", DEMO, None).await;
    let body =
        server.gql(Some(&token), r#"mutation { setupTotp(deviceName: "phone") { secretKey } }"#, json!({})).await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().expect("secretKey").to_owned();
    let body = server.gql(Some(&token), verify, json!({ "c": totp_now(&secret, 0) })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "{body}");

    // The attacker has the password and guesses from elsewhere until the lockout (each
    // back-off is let pass in the database, as the clock would).
    let login = "mutation { login(username: \"demo\", password: \"demo-password\") { token mfaRequired } }";
    let body = server.gql_from(attacker, None, login, json!({})).await;
    let pending = body["data"]["login"]["token"].as_str().expect("a password-only token").to_owned();
    let valid: Vec<String> = (-1..=2).map(|offset| totp_now(&secret, offset)).collect();
    let wrong = ["000000", "111111", "222222"].into_iter().find(|c| !valid.iter().any(|v| v == c)).unwrap();
    let threshold = MfaConfig::default().throttle.lockout_threshold;
    for guess in 1..=threshold {
        t.db.execute_unprepared("UPDATE mfa_throttle SET locked_until = NULL").await.expect("let the back-off pass");
        let body = server.gql_from(attacker, Some(&pending), verify, json!({ "c": wrong })).await;
        assert_eq!(error_code(&body), Some("INVALID_CODE"), "guess {guess}: {body}");
    }
    let locks = lock_events(&server).await;
    assert_eq!(locks.len(), 1, "the attacker's guesses started a lockout: {locks:?}");
    assert!(!locks[0]["reason"].as_str().unwrap().contains("passed from before"), "{locks:?}");

    // Even the right code is refused from any other address the user never passed from:
    // unknown addresses share the lockout, so guessing from many of them gains nothing.
    let body = server.gql_from(travelling, None, login, json!({})).await;
    let elsewhere = body["data"]["login"]["token"].as_str().expect("a token").to_owned();
    let body = server.gql_from(travelling, Some(&elsewhere), verify, json!({ "c": totp_now(&secret, 1) })).await;
    assert_eq!(error_code(&body), Some("MFA_LOCKED"), "{body}");

    // At home the user signs in with the password and a code as usual.
    let body = server.gql_from(home, None, login, json!({})).await;
    let at_home = body["data"]["login"]["token"].as_str().expect("a token").to_owned();
    let body = server.gql_from(home, Some(&at_home), verify, json!({ "c": totp_now(&secret, 1) })).await;
    assert_eq!(body["data"]["verifyTotp"]["success"], true, "locked out at home: {body}");
    let full = body["data"]["verifyTotp"]["token"].as_str().expect("a fresh token");
    let body = server.secret_note(full).await;
    assert!(body["data"]["secretNote"].is_string(), "{body}");
}

/// Found by a read of the code against the design (CPU-costly calls are limited): `setupTotp`
/// hashes a new set of backup codes with Argon2id for a user without a factor (no step-up
/// needed), about 0.3 s of CPU a call, and nothing limited how often. Now 10 a minute per user
/// (and 30 per address), refused with `RATE_LIMITED` before anything is hashed.
#[tokio::test]
async fn setup_totp_is_limited_before_it_hashes() {
    let (_t, server, _phone) = start(|_| {}).await;
    let setup = r#"mutation { setupTotp(deviceName: "phone") { secretKey backupCodes } }"#;
    let (token, _) = server.login("demo", DEMO, None).await;
    let limit = rail_graphql_security::mfa::graphql::BACKUP_CODES_USER_LIMIT.limit;
    for call in 1..=limit {
        let body = server.gql(Some(&token), setup, json!({})).await;
        let codes =
            body["data"]["setupTotp"]["backupCodes"].as_array().unwrap_or_else(|| panic!("call {call}: {body}"));
        assert_eq!(codes.len(), 10, "call {call}: a fresh set each time while no factor is confirmed");
    }
    let body = server.gql(Some(&token), setup, json!({})).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Another user from the same address is not held up by it.
    let (admin, _) = server.login("admin", demo::DEFAULT_ADMIN_PASSWORD, None).await;
    let body = server.gql(Some(&admin), setup, json!({})).await;
    assert!(body["data"]["setupTotp"]["secretKey"].is_string(), "{body}");
}

/// Found by an attack: the per-address SMS quota counted each IPv6 address apart, so a client
/// holding a /64 (what one subscriber usually gets) sent from a new address each time and was
/// never stopped by it. An IPv6 client now counts by its /64, as every other address limit does.
#[tokio::test]
async fn the_sms_quota_per_address_counts_an_ipv6_client_by_its_network() {
    let (_t, server, phone) = start(|settings| {
        let sms = &mut settings.config.security.mfa.sms;
        sms.quota_per_user = 100;
        sms.quota_per_number = 100;
        sms.quota_per_address = 3;
        let deployment = &mut settings.config.security.deployment;
        deployment.behind_proxy = true;
        deployment.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
    })
    .await;
    let (token, _) = server.login("demo", DEMO, None).await;
    let setup_from = |from: String, i: usize| {
        let (server, token) = (&server, &token);
        async move {
            let query =
                format!(r#"mutation {{ setupSms(phoneNumber: "+1415556{i:04}", deviceName: "phone") {{ success }} }}"#);
            let response = reqwest::Client::new()
                .post(&server.url)
                .bearer_auth(token)
                .header("x-forwarded-for", from)
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("the server answers");
            response.json::<Value>().await.expect("a JSON body")
        }
    };
    // Three addresses of one /64 use up its quota; a fourth of the same /64 is refused.
    for i in 1..=3 {
        let body = setup_from(format!("2001:db8:1:2::{i:x}"), i).await;
        assert_eq!(body["data"]["setupSms"]["success"], true, "address {i}: {body}");
    }
    let body = setup_from("2001:db8:1:2:ffff:ffff:ffff:fffe".to_owned(), 4).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    assert_eq!(errors(&body)[0]["extensions"]["limit"], "sms_per_address", "{body}");
    assert_eq!(phone.messages().len(), 3, "no SMS past the network's quota");
    // Another network has its own.
    let body = setup_from("2001:db8:1:3::1".to_owned(), 5).await;
    assert_eq!(body["data"]["setupSms"]["success"], true, "another /64: {body}");
    assert_eq!(phone.messages().len(), 4);
}
