//! SMS: Twilio and AWS SNS request shapes against a local server, code lifecycle (hashing,
//! expiry, single use, resend throttle, wrong-try limit), provider failures and E.164.

use base64::Engine;
use chrono::{Duration, Utc};
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::mfa::sms::{ConsoleSmsProvider, SmsError, SnsSmsProvider, TwilioSmsProvider};
use rail_graphql_security::mfa::{MfaConfig, MfaError, MfaManager, MfaMethod, SmsQuotas, ThrottleConfig};
use sea_orm::ConnectionTrait;
use wiremock::matchers::{body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{MemorySink, TestId, contains, dump, manager, user};
use crate::mfa_test;
use integration_tests::TestDb;

fn lenient() -> MfaConfig {
    MfaConfig {
        throttle: ThrottleConfig { free_attempts: 50, lockout_threshold: 60, ..Default::default() },
        ..Default::default()
    }
}

/// The code in the n-th message the server received (form-encoded: spaces are `+`).
async fn code_in(server: &MockServer, n: usize) -> String {
    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8(requests[n].body.clone()).unwrap();
    let at = body.find("code+is+").expect("the message states the code") + "code+is+".len();
    body[at..at + 6].to_owned()
}

async fn twilio_codes_confirm_expire_and_are_single_use<Id: TestId>(t: &TestDb) {
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("AC0123:twilio-token");
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC0123/Messages.json"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("To=%2B14155550123"))
        .and(body_string_contains("From=%2B15005550006"))
        .respond_with(ResponseTemplate::new(201).set_body_string(r#"{"sid":"SM1","status":"queued"}"#))
        .mount(&server)
        .await;
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let provider = TwilioSmsProvider::new("AC0123", "twilio-token", "+15005550006").with_base_url(server.uri());
    assert!(!format!("{provider:?}").contains("twilio-token"));
    let mfa =
        manager::<Id>(t.db.clone(), lenient()).with_audit_logger(logger.clone()).with_sms_provider(provider).unwrap();
    let alice = user::<Id>(1);

    let device_id = mfa.setup_sms_device(&alice, "+1 (415) 555-0123", "My Phone").await.unwrap();
    let devices = mfa.list_devices(&alice).await.unwrap();
    assert_eq!((devices[0].id, devices[0].device_type, devices[0].confirmed), (device_id, MfaMethod::Sms, false));
    assert_eq!(devices[0].phone_number_hint.as_deref(), Some("**********23"));
    assert!(!mfa.is_mfa_required(&alice).await.unwrap(), "unconfirmed until the first code");
    let first = code_in(&server, 0).await;

    // Resend is throttled; the code is stored only as a keyed hash.
    assert!(matches!(mfa.send_sms_code(&alice).await, Err(MfaError::SmsResendThrottled { .. })));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(!contains(&dump(t).await, first.as_bytes()), "the SMS code is in the database");

    let wrong = format!("{:06}", (first.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert!(!mfa.verify_sms_code(&alice, &wrong).await.unwrap());
    assert!(mfa.verify_sms_code(&alice, &format!("{} {}", &first[..3], &first[3..])).await.unwrap());
    assert!(mfa.list_devices(&alice).await.unwrap()[0].confirmed);
    assert!(mfa.is_mfa_required(&alice).await.unwrap());
    assert!(!mfa.verify_sms_code(&alice, &first).await.unwrap(), "single use");

    // A code expires after 10 minutes.
    let t1 = Utc::now() + Duration::minutes(2);
    mfa.send_sms_code_at(&alice, t1).await.unwrap();
    let second = code_in(&server, 1).await;
    assert!(!mfa.verify_sms_code_at(&alice, &second, t1 + Duration::minutes(11)).await.unwrap());
    assert!(mfa.verify_sms_code_at(&alice, &second, t1 + Duration::minutes(9)).await.unwrap());

    // Five wrong tries burn the code.
    let t2 = t1 + Duration::minutes(12);
    mfa.send_sms_code_at(&alice, t2).await.unwrap();
    let third = code_in(&server, 2).await;
    let wrong = format!("{:06}", (third.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        assert!(!mfa.verify_sms_code_at(&alice, &wrong, t2).await.unwrap());
    }
    assert!(!mfa.verify_sms_code_at(&alice, &third, t2).await.unwrap());

    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    let text = serde_json::to_string(&events.iter().map(|e| e.details.clone()).collect::<Vec<_>>()).unwrap();
    for code in [&first, &second, &third] {
        assert!(!text.contains(code.as_str()), "an SMS code in an audit event");
    }
    let count = |ty: &str| events.iter().filter(|e| e.event_type.as_str() == ty).count();
    assert_eq!((count("mfa_enabled"), count("mfa_success")), (1, 2));
    assert!(events.iter().any(|e| e.details["reason"] == "too many wrong tries for this code"));
    assert!(events.iter().any(|e| e.details["reason"] == "code expired"));
}
mfa_test!(twilio_codes_confirm_expire_and_are_single_use, twilio_codes_confirm_expire_and_are_single_use);

/// An independent SigV4 signature of an SNS `Publish` POST (the AWS algorithm, written out
/// here so the provider's header is checked against something other than itself).
fn sns_signature(host: &str, body: &[u8], at: chrono::DateTime<Utc>) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mac = |key: &[u8], data: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let (stamp, day) = (at.format("%Y%m%dT%H%M%SZ").to_string(), at.format("%Y%m%d").to_string());
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = format!("content-type:{content_type}\nhost:{host}\nx-amz-date:{stamp}\n");
    let request = format!("POST\n/\n\n{headers}\ncontent-type;host;x-amz-date\n{}", hex::encode(Sha256::digest(body)));
    let scope = format!("{day}/eu-west-1/sns/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}", hex::encode(Sha256::digest(request.as_bytes())));
    let key =
        ["eu-west-1", "sns", "aws4_request"].into_iter().fold(mac(b"AWS4sns-secret-key", &day), |k, p| mac(&k, p));
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={}",
        hex::encode(mac(&key, &to_sign))
    )
}

async fn sns_publish_is_sigv4_signed<Id: TestId>(t: &TestDb) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("content-type", "application/x-www-form-urlencoded; charset=utf-8"))
        .and(header_exists("x-amz-date"))
        .and(body_string_contains("Action=Publish"))
        .and(body_string_contains("PhoneNumber=%2B447700900123"))
        .and(body_string_contains("Version=2010-03-31"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>",
        ))
        .mount(&server)
        .await;
    let provider = SnsSmsProvider::new("AKIDTEST", "sns-secret-key", "eu-west-1").with_endpoint(server.uri());
    assert!(!format!("{provider:?}").contains("sns-secret-key"));
    let mfa = manager::<Id>(t.db.clone(), lenient()).with_sms_provider(provider).unwrap();
    let alice = user::<Id>(1);
    mfa.setup_sms_device(&alice, "+44 7700 900123", "phone").await.unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    let amz_date = request.headers.get("x-amz-date").unwrap().to_str().unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ").unwrap().and_utc();
    let host = request.headers.get("host").unwrap().to_str().unwrap();
    let expected = sns_signature(host, &request.body, at);
    let authorization = request.headers.get("authorization").unwrap().to_str().unwrap();
    assert_eq!(authorization, expected, "signed over the body, host and date that were sent");
    assert!(authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential=AKIDTEST/{}/eu-west-1/sns/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=", &amz_date[..8])));
    assert!(!authorization.contains("sns-secret-key"));
    let code = code_in(&server, 0).await;
    assert!(mfa.verify_sms_code(&alice, &code).await.unwrap());
}
mfa_test!(sns_publish_is_sigv4_signed, sns_publish_is_sigv4_signed);

async fn provider_failures_and_bad_input_are_clear<Id: TestId>(t: &TestDb) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string(r#"{"message":"upstream down"}"#))
        .mount(&server)
        .await;
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let failing = manager::<Id>(t.db.clone(), lenient())
        .with_audit_logger(logger.clone())
        .with_sms_provider(TwilioSmsProvider::new("AC1", "tok", "+15005550006").with_base_url(server.uri()))
        .unwrap();
    let alice = user::<Id>(1);
    let err = failing.setup_sms_device(&alice, "+14155550123", "phone").await.unwrap_err();
    assert!(matches!(&err, MfaError::Sms(SmsError::Rejected { status: 500, .. })), "{err:?}");
    assert!(err.to_string().contains("could not be sent"));
    // The undelivered code is withdrawn, so asking again is not throttled (it fails the same way).
    assert!(matches!(failing.send_sms_code(&alice).await, Err(MfaError::Sms(_))));
    let code = code_in(&server, 0).await;
    assert!(!failing.verify_sms_code(&alice, &code).await.unwrap(), "an undelivered code is not valid");
    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    assert!(
        events.iter().any(|e| e.event_type.as_str() == "mfa_failed"
            && e.details["reason"].as_str().is_some_and(|r| r.contains("twilio")))
    );

    // Unreachable provider.
    let unreachable = manager::<Id>(t.db.clone(), lenient())
        .with_sms_provider(TwilioSmsProvider::new("AC1", "tok", "+15005550006").with_base_url("http://127.0.0.1:9"))
        .unwrap();
    assert!(matches!(unreachable.send_sms_code(&alice).await, Err(MfaError::Sms(SmsError::Unreachable(_)))));

    // No provider; invalid phone numbers; no device is created for either.
    let bob = user::<Id>(2);
    let none = manager::<Id>(t.db.clone(), lenient());
    assert!(matches!(none.setup_sms_device(&bob, "+14155550123", "phone").await, Err(MfaError::NoSmsProvider)));
    for bad in ["4155550123", "+1 415 CALL-NOW", "+0 123 456 789"] {
        assert!(matches!(failing.setup_sms_device(&bob, bad, "phone").await, Err(MfaError::InvalidPhoneNumber)));
    }
    assert!(none.list_devices(&bob).await.unwrap().is_empty());
    assert!(matches!(none.send_sms_code(&bob).await, Err(MfaError::NoDevice { method: "sms" })));

    // The console provider is for development only.
    let production = MfaConfig { production: true, ..Default::default() };
    let refused = MfaManager::<Id>::new(
        t.db.clone(),
        production,
        rail_graphql_security::mfa::SecretCipher::new(crate::common::key("k1", 1)),
    )
    .unwrap()
    .with_sms_provider(ConsoleSmsProvider);
    assert!(matches!(refused, Err(MfaError::Config(msg)) if msg.contains("development only")));
    assert!(manager::<Id>(t.db.clone(), lenient()).with_sms_provider(ConsoleSmsProvider).is_ok());
}
mfa_test!(provider_failures_and_bad_input_are_clear, provider_failures_and_bad_input_are_clear);

/// Checks of one user's SMS codes from two instances at once: a code is accepted once, every
/// wrong guess of a burst is counted against the code (none lost to a race), and the code is
/// burnt after `MAX_SMS_CODE_ATTEMPTS` (5) of them.
async fn racing_checks_of_sms_codes_on_two_instances<Id: TestId>(t: &TestDb) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_string(r#"{"sid":"SM1","status":"queued"}"#))
        .mount(&server)
        .await;
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let provider = || TwilioSmsProvider::new("AC1", "tok", "+15005550006").with_base_url(server.uri());
    let ten = rail_graphql_security::rate_limit::Quota::new(10, std::time::Duration::from_secs(3600));
    let config =
        MfaConfig { sms_quotas: SmsQuotas { per_user: ten, per_number: ten, ..Default::default() }, ..lenient() };
    let first = manager::<Id>(t.db.clone(), config.clone())
        .with_audit_logger(logger.clone())
        .with_sms_provider(provider())
        .unwrap();
    let second = manager::<Id>(t.connect_again().await, config)
        .with_audit_logger(logger.clone())
        .with_sms_provider(provider())
        .unwrap();
    let alice = user::<Id>(1);
    first.setup_sms_device(&alice, "+14155550123", "phone").await.unwrap();
    assert!(first.verify_sms_code(&alice, &code_in(&server, 0).await).await.unwrap());

    let checks = |code: String, at: chrono::DateTime<Utc>, n: usize| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let mfa = if i % 2 == 0 { first.clone() } else { second.clone() };
                let (alice, code) = (alice.clone(), code.clone());
                tokio::spawn(async move { mfa.verify_sms_code_at(&alice, &code, at).await })
            })
            .collect();
        async move { futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap().unwrap()).collect::<Vec<bool>>() }
    };

    let mut sent = 1;
    for round in 1..=3i64 {
        let now = Utc::now() + Duration::minutes(2 * round);
        first.send_sms_code_at(&alice, now).await.unwrap();
        let results = checks(code_in(&server, sent).await, now, 16).await;
        sent += 1;
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "round {round}: {results:?}");
    }

    let now = Utc::now() + Duration::minutes(20);
    second.send_sms_code_at(&alice, now).await.unwrap();
    let code = code_in(&server, sent).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert!(checks(wrong, now, 12).await.iter().all(|ok| !ok));
    assert!(!first.verify_sms_code_at(&alice, &code, now).await.unwrap(), "burnt after five wrong tries");

    let attempts =
        t.db.query_one_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT sms_code_attempts FROM mfa_devices",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i32>("", "sms_code_attempts")
        .unwrap();
    assert_eq!(attempts, 13, "each of the 12 concurrent wrong guesses and the late right code counted once");

    logger.flush().await.expect("flush the audit logger");
    let failed: Vec<_> = capture.events().into_iter().filter(|e| e.event_type.as_str() == "mfa_failed").collect();
    assert_eq!(failed.len(), 3 * 15 + 12 + 1, "every refused check is audited");
    assert!(failed.iter().any(|e| e.details["reason"] == "too many wrong tries for this code"));
}
mfa_test!(racing_checks_of_sms_codes_on_two_instances, racing_checks_of_sms_codes_on_two_instances);
