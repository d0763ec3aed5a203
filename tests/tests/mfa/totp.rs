//! TOTP: RFC 6238 vectors, interop, enrolment, replay across instances, throttling, secrets at
//! rest, key rotation and QR codes.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::mfa::{
    MfaConfig, MfaError, MfaManager, SecretCipher, ThrottleConfig, TotpAlgorithm, otpauth_uri, qr_png_data_url, qr_svg,
    totp_code_at,
};
use sea_orm::{ConnectionTrait, Statement};

use crate::common::{MemorySink, TestId, base32_decode, contains, dump, key, manager, rfc_totp_sha1, user};
use crate::mfa_test;
use integration_tests::TestDb;

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).unwrap()
}

/// A fixed instant well inside a 30-second step.
const T0: i64 = 1_790_000_010;

#[test]
fn rfc6238_appendix_b_vectors() {
    let sha1 = b"12345678901234567890".as_slice();
    let sha256 = b"12345678901234567890123456789012".as_slice();
    let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
    let vectors: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    for (time, c1, c256, c512) in vectors {
        assert_eq!(totp_code_at(TotpAlgorithm::Sha1, 8, 30, sha1, time), c1, "SHA1 at {time}");
        assert_eq!(totp_code_at(TotpAlgorithm::Sha256, 8, 30, sha256, time), c256, "SHA256 at {time}");
        assert_eq!(totp_code_at(TotpAlgorithm::Sha512, 8, 30, sha512, time), c512, "SHA512 at {time}");
        // The independent implementation agrees, so the interop tests below mean something.
        assert_eq!(rfc_totp_sha1(sha1, time, 30, 8), c1);
    }
}

#[test]
fn qr_png_decodes_back_to_the_otpauth_uri() {
    let uri =
        otpauth_uri("ACME Co", "alice@example.com", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", TotpAlgorithm::Sha1, 6, 30)
            .unwrap();
    assert!(uri.starts_with(
        "otpauth://totp/ACME%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=ACME%20Co"
    ));
    let data_url = qr_png_data_url(&uri).unwrap();
    let b64 = data_url.strip_prefix("data:image/png;base64,").expect("PNG data URL");
    let png_bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, uri);
    let svg = qr_svg(&uri).unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    assert!(otpauth_uri("Evil:Issuer", "a", "AA", TotpAlgorithm::Sha1, 6, 30).is_err());
}

fn audited<Id: TestId>(t: &TestDb, config: MfaConfig) -> (MfaManager<Id>, AuditLogger, MemorySink) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let mfa = manager::<Id>(t.db.clone(), config).with_audit_logger(logger.clone());
    (mfa, logger, capture)
}

async fn enrolment_confirmation_interop_and_replay<Id: TestId>(t: &TestDb) {
    let (mfa, logger, capture) = audited::<Id>(t, MfaConfig::default());
    let alice = user::<Id>(1);
    assert!(!mfa.is_mfa_required(&alice).await.unwrap());
    assert!(matches!(mfa.verify_totp_code_at(&alice, "123456", at(T0)).await, Err(MfaError::NoDevice { .. })));

    let setup = mfa.setup_totp_device(&alice, "My Phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    assert!(secret.len() >= 20, "at least 160 bits");
    assert!(setup.otpauth_uri.contains(&format!("secret={}", &*setup.secret)));
    assert!(!format!("{setup:?}").contains(&*setup.secret));
    let devices = mfa.list_devices(&alice).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert!(!devices[0].confirmed && devices[0].is_active);
    assert!(!mfa.is_mfa_required(&alice).await.unwrap(), "an unconfirmed device is not a second factor");

    // A wrong code and a malformed one fail; a code from the independent implementation passes.
    let good = rfc_totp_sha1(&secret, T0 as u64, 30, 6);
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert!(!mfa.verify_totp_code_at(&alice, &wrong, at(T0)).await.unwrap());
    assert!(!mfa.verify_totp_code_at(&alice, "12ab56", at(T0)).await.unwrap());
    let spaced = format!("{} {}", &good[..3], &good[3..]);
    assert!(mfa.verify_totp_code_at(&alice, &spaced, at(T0)).await.unwrap());
    assert!(mfa.list_devices(&alice).await.unwrap()[0].confirmed);
    assert!(mfa.is_mfa_required(&alice).await.unwrap());

    // Replay of the same code, even later within the skew window, fails.
    assert!(!mfa.verify_totp_code_at(&alice, &good, at(T0)).await.unwrap());
    assert!(!mfa.verify_totp_code_at(&alice, &good, at(T0 + 25)).await.unwrap());
    // The previous step's code (inside the skew) is older than the accepted step: refused.
    let previous = rfc_totp_sha1(&secret, (T0 - 30) as u64, 30, 6);
    assert!(!mfa.verify_totp_code_at(&alice, &previous, at(T0)).await.unwrap());
    // The next step's code is accepted once; codes too far from now are not.
    let next = rfc_totp_sha1(&secret, (T0 + 30) as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &next, at(T0 + 30)).await.unwrap());
    let far = rfc_totp_sha1(&secret, (T0 + 150) as u64, 30, 6);
    assert!(!mfa.verify_totp_code_at(&alice, &far, at(T0 + 60)).await.unwrap());

    // Another user's code does not work for alice's device and vice versa.
    let bob = user::<Id>(2);
    assert!(matches!(mfa.verify_totp_code_at(&bob, &next, at(T0 + 30)).await, Err(MfaError::NoDevice { .. })));

    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "mfa_enabled").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "mfa_success").count(), 2, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "mfa_failed").count(), 6, "{types:?}");
    let replay_events = events.iter().filter(|e| e.details["reason"] == "code already used").count();
    assert_eq!(replay_events, 3);
    let all = serde_json::to_string(&events.iter().map(|e| e.details.clone()).collect::<Vec<_>>()).unwrap();
    for code in [&good, &next, &wrong, &previous] {
        assert!(!all.contains(code.as_str()), "an audit event contains a code");
    }
    assert!(!all.contains(&*setup.secret));

    // Disabling the device removes the factor and its secret.
    mfa.disable_device(&alice, setup.device_id).await.unwrap();
    assert!(!mfa.is_mfa_required(&alice).await.unwrap());
    assert!(matches!(mfa.verify_totp_code_at(&alice, &far, at(T0 + 150)).await, Err(MfaError::NoDevice { .. })));
    logger.flush().await.expect("flush the audit logger");
    assert!(capture.types().contains(&"mfa_disabled".to_owned()));
}
mfa_test!(enrolment_confirmation_interop_and_replay, enrolment_confirmation_interop_and_replay);

async fn same_code_from_two_instances_is_accepted_once<Id: TestId>(t: &TestDb) {
    let config = MfaConfig {
        throttle: ThrottleConfig { free_attempts: 98, lockout_threshold: 99, ..Default::default() },
        ..Default::default()
    };
    let first = manager::<Id>(t.db.clone(), config.clone());
    let second = manager::<Id>(t.connect_again().await, config);
    let alice = user::<Id>(1);
    let setup = first.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    assert!(first.verify_totp_code_at(&alice, &rfc_totp_sha1(&secret, T0 as u64, 30, 6), at(T0)).await.unwrap());

    for round in 1..=3i64 {
        let now = T0 + 30 * round;
        let code = rfc_totp_sha1(&secret, now as u64, 30, 6);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let mfa = if i % 2 == 0 { first.clone() } else { second.clone() };
                let (alice, code) = (alice.clone(), code.clone());
                tokio::spawn(async move { mfa.verify_totp_code_at(&alice, &code, at(now)).await })
            })
            .collect();
        let results: Vec<bool> =
            futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "round {round}: {results:?}");
    }
}
mfa_test!(same_code_from_two_instances_is_accepted_once, same_code_from_two_instances_is_accepted_once);

async fn failures_back_off_then_lock_out<Id: TestId>(t: &TestDb) {
    let throttle = ThrottleConfig {
        free_attempts: 2,
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(40),
        lockout_threshold: 5,
        lockout_duration: Duration::from_secs(900),
    };
    let (mfa, logger, capture) = audited::<Id>(t, MfaConfig { throttle, ..Default::default() });
    let other = manager::<Id>(t.connect_again().await, MfaConfig::default());
    let alice = user::<Id>(1);
    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let code_at = |unix: i64| rfc_totp_sha1(&secret, unix as u64, 30, 6);
    let wrong_at = |unix: i64| format!("{:06}", (code_at(unix).parse::<u32>().unwrap() + 7) % 1_000_000);

    let mut now = T0;
    // Two free failures, then each failure blocks for 10 s, 20 s, ...
    for _ in 0..2 {
        assert!(!mfa.verify_totp_code_at(&alice, &wrong_at(now), at(now)).await.unwrap());
    }
    assert!(!mfa.verify_totp_code_at(&alice, &wrong_at(now), at(now)).await.unwrap()); // 3rd: 10 s
    // Blocked on every instance, even for the right code.
    let blocked = other.verify_totp_code_at(&alice, &code_at(now + 5), at(now + 5)).await;
    assert!(matches!(blocked, Err(MfaError::Locked { until }) if until == at(now + 10)), "{blocked:?}");
    now += 11;
    assert!(!mfa.verify_totp_code_at(&alice, &wrong_at(now), at(now)).await.unwrap()); // 4th: 20 s
    assert!(matches!(
        mfa.verify_totp_code_at(&alice, &code_at(now + 15), at(now + 15)).await,
        Err(MfaError::Locked { .. })
    ));
    now += 21;
    assert!(!mfa.verify_totp_code_at(&alice, &wrong_at(now), at(now)).await.unwrap()); // 5th: lockout
    let locked = mfa.verify_totp_code_at(&alice, &code_at(now + 600), at(now + 600)).await;
    assert!(matches!(locked, Err(MfaError::Locked { until }) if until == at(now + 900)), "{locked:?}");
    logger.flush().await.expect("flush the audit logger");
    let types = capture.types();
    assert_eq!(types.iter().filter(|t| *t == "account_locked").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "mfa_failed").count(), 5, "{types:?}");

    // After the lockout the right code works and resets the count.
    now += 901;
    assert!(mfa.verify_totp_code_at(&alice, &code_at(now), at(now)).await.unwrap());
    for _ in 0..2 {
        assert!(!mfa.verify_totp_code_at(&alice, &wrong_at(now), at(now)).await.unwrap());
    }
    let row =
        t.db.query_one_raw(Statement::from_string(t.db_backend(), "SELECT failed_attempts FROM mfa_throttle"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), 2);
}
mfa_test!(failures_back_off_then_lock_out, failures_back_off_then_lock_out);

async fn secrets_are_encrypted_bound_and_rotatable<Id: TestId>(t: &TestDb) {
    let mfa = manager::<Id>(t.db.clone(), MfaConfig::default());
    let (alice, bob) = (user::<Id>(1), user::<Id>(2));
    let a = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let b = mfa.setup_totp_device(&bob, "phone").await.unwrap();
    let a_secret = base32_decode(&a.secret);
    assert!(mfa.verify_totp_code_at(&alice, &rfc_totp_sha1(&a_secret, T0 as u64, 30, 6), at(T0)).await.unwrap());

    let dumped = dump(t).await;
    for secret in [&a.secret, &b.secret] {
        assert!(!contains(&dumped, secret.as_bytes()), "base32 secret in the dump");
        let raw = base32_decode(secret);
        assert!(!contains(&dumped, &raw), "raw secret in the dump");
        assert!(!contains(&dumped, hex::encode(&raw).as_bytes()), "hex secret in the dump");
    }

    // A secret moved to another user's device does not decrypt (associated data).
    let backend = t.db_backend();
    let blob: String =
        t.db.query_one_raw(Statement::from_sql_and_values(
            backend,
            if backend == sea_orm::DatabaseBackend::Postgres {
                "SELECT secret_key FROM mfa_devices WHERE id = $1"
            } else {
                "SELECT secret_key FROM mfa_devices WHERE id = ?"
            },
            [a.device_id.to_string().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "UPDATE mfa_devices SET secret_key = $1 WHERE id = $2"
    } else {
        "UPDATE mfa_devices SET secret_key = ? WHERE id = ?"
    };
    t.db.execute_raw(Statement::from_sql_and_values(backend, sql, [blob.into(), b.device_id.to_string().into()]))
        .await
        .unwrap();
    assert!(matches!(mfa.verify_totp_code_at(&bob, "123456", at(T0)).await, Err(MfaError::Tampered)));

    // Rotation: a manager holding only the new key cannot read the secret; after re-encryption
    // it can, and the old key is no longer needed.
    let new_only = MfaManager::<Id>::new(t.db.clone(), MfaConfig::default(), SecretCipher::new(key("k2", 2))).unwrap();
    let c1 = rfc_totp_sha1(&a_secret, (T0 + 30) as u64, 30, 6);
    assert!(
        matches!(new_only.verify_totp_code_at(&alice, &c1, at(T0 + 30)).await, Err(MfaError::UnknownKey { key_id }) if key_id == "k1")
    );
    let rotating = MfaManager::<Id>::new(
        t.db.clone(),
        MfaConfig::default(),
        SecretCipher::new(key("k2", 2)).with_previous_key(key("k1", 1)),
    )
    .unwrap();
    mfa.disable_device(&bob, b.device_id).await.unwrap();
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 1);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 0);
    assert!(new_only.verify_totp_code_at(&alice, &c1, at(T0 + 30)).await.unwrap());
}
mfa_test!(secrets_are_encrypted_bound_and_rotatable, secrets_are_encrypted_bound_and_rotatable);

#[test]
fn configuration_errors_name_the_setting() {
    let bad = |c: MfaConfig| match c.validate() {
        Err(MfaError::Config(msg)) => msg,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(bad(MfaConfig { totp_digits: 7, ..Default::default() }).contains("TOTP_DIGITS"));
    assert!(bad(MfaConfig { totp_issuer: "a:b".into(), ..Default::default() }).contains("TOTP_ISSUER"));
    assert!(bad(MfaConfig { backup_code_length: 4, ..Default::default() }).contains("BACKUP_CODE_LENGTH"));
    let t = ThrottleConfig { lockout_threshold: 500, ..Default::default() };
    assert!(bad(MfaConfig { throttle: t, ..Default::default() }).contains("100"));
}

async fn eight_digit_sha256_and_sha512_devices<Id: TestId>(t: &TestDb) {
    for (algorithm, name) in [(TotpAlgorithm::Sha256, "SHA256"), (TotpAlgorithm::Sha512, "SHA512")] {
        let config = MfaConfig { totp_digits: 8, totp_period: 60, totp_algorithm: algorithm, ..Default::default() };
        let mfa = manager::<Id>(t.db.clone(), config);
        let alice = user::<Id>(if algorithm == TotpAlgorithm::Sha256 { 1 } else { 2 });
        let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
        assert!(
            setup.otpauth_uri.ends_with(&format!("&algorithm={name}&digits=8&period=60")),
            "{}",
            &*setup.otpauth_uri
        );
        let secret = base32_decode(&setup.secret);
        let code = totp_code_at(algorithm, 8, 60, &secret, T0 as u64);
        assert_eq!(code.len(), 8);
        assert!(!mfa.verify_totp_code_at(&alice, &code[..6], at(T0)).await.unwrap(), "6 of 8 digits");
        assert!(
            !mfa.verify_totp_code_at(&alice, &totp_code_at(TotpAlgorithm::Sha1, 8, 60, &secret, T0 as u64), at(T0))
                .await
                .unwrap(),
            "wrong algorithm"
        );
        assert!(mfa.verify_totp_code_at(&alice, &code, at(T0)).await.unwrap());
    }
}
mfa_test!(eight_digit_sha256_and_sha512_devices, eight_digit_sha256_and_sha512_devices);

async fn a_burst_of_guesses_gets_at_most_the_lockout_threshold_of_checks<Id: TestId>(t: &TestDb) {
    let throttle = ThrottleConfig { free_attempts: 9, lockout_threshold: 10, ..Default::default() };
    let config = MfaConfig { throttle, ..Default::default() };
    let first = manager::<Id>(t.db.clone(), config.clone());
    let second = manager::<Id>(t.connect_again().await, config);
    let alice = user::<Id>(1);
    let setup = first.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let good = rfc_totp_sha1(&secret, T0 as u64, 30, 6);
    let tasks: Vec<_> = (0..50u32)
        .map(|i| {
            let mfa = if i % 2 == 0 { first.clone() } else { second.clone() };
            let alice = alice.clone();
            // 50 distinct wrong guesses at once, from two instances.
            let guess = format!("{:06}", (good.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
            tokio::spawn(async move { mfa.verify_totp_code_at(&alice, &guess, at(T0)).await })
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for result in futures::future::join_all(tasks).await {
        match result.unwrap() {
            Ok(false) => checked += 1,
            Err(MfaError::Locked { .. }) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((checked, refused), (10, 40), "only lockout_threshold guesses may be checked");
    // Locked out now, even for the right code.
    assert!(matches!(first.verify_totp_code_at(&alice, &good, at(T0)).await, Err(MfaError::Locked { .. })));
    // After the lockout a single attempt is allowed before the next one.
    let later = T0 + 16 * 60;
    let wrong = format!("{:06}", (rfc_totp_sha1(&secret, later as u64, 30, 6).parse::<u32>().unwrap() + 1) % 1_000_000);
    assert!(!first.verify_totp_code_at(&alice, &wrong, at(later)).await.unwrap());
    assert!(matches!(first.verify_totp_code_at(&alice, &wrong, at(later)).await, Err(MfaError::Locked { .. })));
}
mfa_test!(
    a_burst_of_guesses_gets_at_most_the_lockout_threshold_of_checks,
    a_burst_of_guesses_gets_at_most_the_lockout_threshold_of_checks
);
