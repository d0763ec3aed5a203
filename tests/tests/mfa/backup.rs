//! Backup codes: format, hashing at rest, tolerant matching, single use under races,
//! regeneration.

use std::collections::HashSet;

use chrono::Utc;
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::mfa::{BACKUP_CODE_ALPHABET, BackupCodeHashing, MfaConfig, MfaError, ThrottleConfig};
use sea_orm::{ConnectionTrait, Statement};

use crate::common::{MemorySink, TestId, confirmed_totp, contains, dump, manager, user};
use crate::mfa_test;
use integration_tests::TestDb;

/// Cheap hashes so a hundred concurrent checks stay fast in debug builds.
pub(crate) fn fast_config() -> MfaConfig {
    MfaConfig { backup_code_hashing: BackupCodeHashing { memory_kib: 256, iterations: 1 }, ..Default::default() }
}

async fn codes_are_hashed_tolerant_single_use_and_regenerable<Id: TestId>(t: &TestDb) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let mfa = manager::<Id>(t.db.clone(), fast_config()).with_audit_logger(logger.clone());
    let (alice, bob) = (user::<Id>(1), user::<Id>(2));
    confirmed_totp(&mfa, &alice).await;
    assert!(matches!(mfa.verify_backup_code(&alice, "ABCD-EFGH").await, Ok(false)));

    let codes = mfa.generate_backup_codes(&alice).await.unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().map(|c| c.as_str()).collect::<HashSet<_>>().len(), 10, "codes are distinct");
    for code in &codes {
        let plain = code.replace('-', "");
        assert_eq!(plain.len(), 8);
        assert!(plain.bytes().all(|b| BACKUP_CODE_ALPHABET.contains(&b)), "{plain}");
    }
    assert_eq!(mfa.remaining_backup_codes(&alice).await.unwrap(), 10);

    // Stored only as Argon2id hashes: no code appears in a dump, with or without its dash.
    let dumped = dump(t).await;
    for code in &codes {
        assert!(!contains(&dumped, code.as_bytes()) && !contains(&dumped, code.replace('-', "").as_bytes()));
    }
    let hashes =
        t.db.query_all_raw(Statement::from_string(t.db_backend(), "SELECT code_hash FROM mfa_backup_codes"))
            .await
            .unwrap();
    assert_eq!(hashes.len(), 10);
    for row in hashes {
        assert!(row.try_get_by_index::<String>(0).unwrap().starts_with("$argon2id$"));
    }

    // Case and separators are tolerated; each code works once; another user cannot use it.
    let messy = format!(" {} ", codes[0].to_lowercase().replace('-', " _ "));
    assert!(!mfa.verify_backup_code(&bob, &codes[0]).await.unwrap());
    assert!(mfa.verify_backup_code(&alice, &messy).await.unwrap());
    assert!(!mfa.verify_backup_code(&alice, &codes[0]).await.unwrap());
    assert!(!mfa.verify_backup_code(&alice, "O0I1-O0I1").await.unwrap(), "ambiguous symbols are refused");
    assert!(mfa.verify_backup_code(&alice, &codes[1]).await.unwrap());
    assert_eq!(mfa.remaining_backup_codes(&alice).await.unwrap(), 8);

    // Regenerating invalidates the whole previous set.
    let fresh = mfa.generate_backup_codes(&alice).await.unwrap();
    assert_eq!(mfa.remaining_backup_codes(&alice).await.unwrap(), 10);
    assert!(!mfa.verify_backup_code(&alice, &codes[2]).await.unwrap());
    assert!(mfa.verify_backup_code(&alice, &fresh[0]).await.unwrap());

    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    let text = serde_json::to_string(&events.iter().map(|e| e.details.clone()).collect::<Vec<_>>()).unwrap();
    for code in codes.iter().chain(&fresh) {
        assert!(!text.contains(code.as_str()) && !text.contains(&code.replace('-', "")), "a code in an audit event");
    }
    let count = |ty: &str| events.iter().filter(|e| e.event_type.as_str() == ty).count();
    // The TOTP device's and the codes' enabling; the TOTP code's and three backup codes' success.
    assert_eq!((count("mfa_enabled"), count("mfa_success")), (3, 4));
    // Before any codes, bob's try, the reuse, the ambiguous code and the old set's code.
    assert_eq!(count("mfa_failed"), 5);
}
mfa_test!(codes_are_hashed_tolerant_single_use_and_regenerable, codes_are_hashed_tolerant_single_use_and_regenerable);

async fn one_code_raced_by_a_hundred_requests_succeeds_once<Id: TestId>(t: &TestDb) {
    let config = MfaConfig {
        throttle: ThrottleConfig { free_attempts: 99, lockout_threshold: 100, ..Default::default() },
        ..fast_config()
    };
    let first = manager::<Id>(t.db.clone(), config.clone());
    let second = manager::<Id>(t.connect_again().await, config);
    let alice = user::<Id>(1);
    confirmed_totp(&first, &alice).await;
    let codes = first.generate_backup_codes(&alice).await.unwrap();
    let code = codes[3].to_string();
    let now = Utc::now();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let mfa = if i % 2 == 0 { first.clone() } else { second.clone() };
            let (alice, code) = (alice.clone(), code.clone());
            tokio::spawn(async move { mfa.verify_backup_code_at(&alice, &code, now).await })
        })
        .collect();
    let mut successes = 0;
    for result in futures::future::join_all(tasks).await {
        match result.unwrap() {
            Ok(true) => successes += 1,
            Ok(false) | Err(MfaError::Locked { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(successes, 1);
    assert_eq!(first.remaining_backup_codes(&alice).await.unwrap(), 9);
}
mfa_test!(one_code_raced_by_a_hundred_requests_succeeds_once, one_code_raced_by_a_hundred_requests_succeeds_once);
