//! Issue 14 items 3 and 9 on the runtime: the hard lock after `max_consecutive_failures`
//! (kept across lockout windows until a backup code or `unlock`), and the limits on the SMS the
//! runtime sends (quotas per user, number, client address and overall, in memory or shared in
//! Redis), the allow-list of destination countries and the cap on pending enrolments.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rail_graphql_security::audit::{AuditEvent, AuditLogger};
use rail_graphql_security::mfa::sms::{SmsError, SmsProvider};
use rail_graphql_security::mfa::{MfaConfig, MfaError, MfaManager, SmsQuotas, ThrottleConfig};
use rail_graphql_security::rate_limit::{Quota, RateLimiter};

use crate::backup::fast_config;
use crate::common::{MemorySink, TestId, base32_decode, manager, rfc_totp_sha1, user};
use crate::mfa_test;
use integration_tests::TestDb;

const T0: i64 = 1_790_000_010;

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).unwrap()
}

/// Keeps every SMS "sent" as `(to, body)`.
#[derive(Debug, Clone, Default)]
struct Phone(Arc<Mutex<Vec<(String, String)>>>);

#[async_trait::async_trait]
impl SmsProvider for Phone {
    fn name(&self) -> &'static str {
        "test-phone"
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        self.0.lock().unwrap().push((to.to_owned(), body.to_owned()));
        Ok(())
    }
}

impl Phone {
    fn sent(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Locks out for 60 s after 3 failures; hard lock after 8 consecutive ones.
fn hard_lock_config() -> MfaConfig {
    MfaConfig {
        throttle: ThrottleConfig {
            free_attempts: 1,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
            lockout_threshold: 3,
            lockout_duration: Duration::from_secs(60),
        },
        max_consecutive_failures: 8,
        ..fast_config()
    }
}

fn hard_locks(events: &[AuditEvent]) -> usize {
    events.iter().filter(|e| e.event_type.as_str() == "account_locked" && e.details["locked_until"].is_null()).count()
}

async fn consecutive_failures_lock_codes_until_recovery<Id: TestId>(t: &TestDb) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let mfa = manager::<Id>(t.db.clone(), hard_lock_config()).with_audit_logger(logger.clone());
    let alice = user::<Id>(1);
    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let code = |unix: i64| rfc_totp_sha1(&secret, unix as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &code(T0), at(T0)).await.unwrap());
    let backup = mfa.generate_backup_codes(&alice).await.unwrap();
    let wrong = |unix: i64| if code(unix) == "000000" { "111111" } else { "000000" };

    // Each attempt two minutes after the last: every lockout window has passed.
    let mut now = T0;
    let mut next = || {
        now += 120;
        now
    };
    // A success in between starts the count again.
    for _ in 0..7 {
        let n = next();
        assert!(!mfa.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap());
    }
    let n = next();
    assert!(mfa.verify_totp_code_at(&alice, &code(n), at(n)).await.unwrap());
    for _ in 0..7 {
        let n = next();
        assert!(!mfa.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap());
    }
    assert!(!mfa.is_locked_until_recovery(&alice).await.unwrap(), "7 since the last success");
    let n = next();
    assert!(!mfa.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap(), "the 8th is still checked");
    assert!(mfa.is_locked_until_recovery(&alice).await.unwrap());

    // Windows pass; not even the right code is checked.
    for _ in 0..3 {
        let n = next();
        assert!(matches!(mfa.verify_totp_code_at(&alice, &code(n), at(n)).await, Err(MfaError::LockedUntilRecovery)));
    }
    logger.flush().await.expect("flush the audit logger");
    assert_eq!(hard_locks(&capture.events()), 1, "audited once");

    // A backup code is the recovery (the timed lockout of the 8th failure has passed).
    let n = next();
    assert!(mfa.verify_backup_code_at(&alice, &backup[0], at(n)).await.unwrap());
    assert!(!mfa.is_locked_until_recovery(&alice).await.unwrap());
    let n = next();
    assert!(mfa.verify_totp_code_at(&alice, &code(n), at(n)).await.unwrap());

    // Locked again, an administrator unlocks.
    for _ in 0..8 {
        let n = next();
        assert!(!mfa.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap());
    }
    let n = next();
    assert!(matches!(mfa.verify_totp_code_at(&alice, &code(n), at(n)).await, Err(MfaError::LockedUntilRecovery)));
    mfa.unlock(&alice).await.unwrap();
    let n = next();
    assert!(mfa.verify_totp_code_at(&alice, &code(n), at(n)).await.unwrap());
    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    assert_eq!(hard_locks(&events), 2);
    assert!(events.iter().any(|e| e.event_type.as_str() == "account_unlocked"));
}
mfa_test!(consecutive_failures_lock_codes_until_recovery_test, consecutive_failures_lock_codes_until_recovery);

/// Whoever has only the password used to lock the user's second factor from anywhere. The
/// addresses the user passed from have counts of their own now: failures from other addresses
/// lock those, not the user at home; and the other way round, so guessing gets at most twice
/// the limits. Both the locked path (TOTP) and the autocommit path (backup codes) count by
/// address.
async fn failures_from_unknown_addresses_lock_only_those<Id: TestId>(t: &TestDb) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let mfa = manager::<Id>(t.db.clone(), hard_lock_config()).with_audit_logger(logger.clone());
    let home = mfa.with_client_ip(Some("198.51.100.20".parse().unwrap()));
    let attacker = mfa.with_client_ip(Some("203.0.113.66".parse().unwrap()));
    let alice = user::<Id>(1);
    let setup = home.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let code = |unix: i64| rfc_totp_sha1(&secret, unix as u64, 30, 6);
    assert!(home.verify_totp_code_at(&alice, &code(T0), at(T0)).await.unwrap(), "enrolled from home");
    let backup = home.generate_backup_codes(&alice).await.unwrap();
    let wrong = |unix: i64| if code(unix) == "000000" { "111111" } else { "000000" };
    let mut now = T0;
    let mut next = || {
        now += 120;
        now
    };

    // The attacker guesses until the hard lock: the attacker's address is locked for good...
    for _ in 0..8 {
        let n = next();
        assert!(!attacker.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap());
    }
    let n = next();
    assert!(matches!(attacker.verify_totp_code_at(&alice, &code(n), at(n)).await, Err(MfaError::LockedUntilRecovery)));
    assert!(attacker.is_locked_until_recovery(&alice).await.unwrap());
    // ...and so is every address the user never passed from; not home.
    let other = mfa.with_client_ip(Some("192.0.2.1".parse().unwrap()));
    assert!(other.is_locked_until_recovery(&alice).await.unwrap());
    assert!(matches!(other.verify_totp_code_at(&alice, &code(n), at(n)).await, Err(MfaError::LockedUntilRecovery)));
    assert!(!home.is_locked_until_recovery(&alice).await.unwrap());
    let n = next();
    assert!(home.verify_totp_code_at(&alice, &code(n), at(n)).await.unwrap(), "the user passes at home");
    // A success proves the factor: every count starts again.
    assert!(!attacker.is_locked_until_recovery(&alice).await.unwrap());

    // Backup codes: the attacker's wrong ones start the lockout of unknown addresses (3
    // failures); at once, a backup code from home still passes.
    for _ in 0..3 {
        let n = next();
        assert!(!attacker.verify_backup_code_at(&alice, "ABCD-EFGH", at(n)).await.unwrap());
    }
    let n = next() - 119;
    assert!(matches!(attacker.verify_backup_code_at(&alice, &backup[0], at(n)).await, Err(MfaError::Locked { .. })));
    assert!(home.verify_backup_code_at(&alice, &backup[0], at(n)).await.unwrap(), "the recovery works at home");

    // The other way round: failures at a known address lock the known addresses, and the
    // audit trail says so; unknown addresses keep their own count.
    for _ in 0..8 {
        let n = next();
        assert!(!home.verify_totp_code_at(&alice, wrong(n), at(n)).await.unwrap());
    }
    assert!(home.is_locked_until_recovery(&alice).await.unwrap());
    assert!(!attacker.is_locked_until_recovery(&alice).await.unwrap());
    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "account_locked" && e.details["locked_until"].is_null())
        .map(|e| e.details["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(!reasons[0].contains("passed from before") && reasons[1].contains("passed from before"), "{reasons:?}");
}
mfa_test!(failures_from_unknown_addresses_lock_only_those_test, failures_from_unknown_addresses_lock_only_those);

/// Quotas small enough to reach each one in turn.
fn quota_config() -> MfaConfig {
    let hour = Duration::from_secs(3600);
    MfaConfig {
        sms_quotas: SmsQuotas {
            per_user: Quota::new(2, hour),
            per_number: Quota::new(3, hour),
            per_address: Quota::new(4, hour),
            global: Quota::new(5, hour),
        },
        ..MfaConfig::default()
    }
}

fn refused_by(result: Result<impl std::fmt::Debug, MfaError>) -> &'static str {
    match result {
        Err(MfaError::RateLimited { what, retry_after }) => {
            let wait = retry_after.expect("a quota knows when it frees up");
            assert!(wait > Duration::ZERO && wait <= Duration::from_secs(3600), "{wait:?}");
            what
        }
        other => panic!("expected a quota refusal, got {other:?}"),
    }
}

async fn every_sms_counts_against_each_quota<Id: TestId>(t: &TestDb) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let phone = Phone::default();
    let base = manager::<Id>(t.db.clone(), quota_config()).with_audit_logger(logger.clone());
    let base = base.with_sms_provider(phone.clone()).unwrap();
    let ip1: IpAddr = "203.0.113.7".parse().unwrap();
    let ip2: IpAddr = "203.0.113.8".parse().unwrap();
    let (a, b) = (base.with_client_ip(Some(ip1)), base.with_client_ip(Some(ip2)));
    let shared = "+14155550100";

    // Per user: a setup and a resend, then the next resend is refused (the resend path counts).
    let alice = user::<Id>(1);
    a.setup_sms_device(&alice, shared, "phone").await.unwrap();
    a.send_sms_code_at(&alice, Utc::now() + chrono::Duration::seconds(61)).await.unwrap();
    let later = Utc::now() + chrono::Duration::seconds(122);
    assert_eq!(refused_by(a.send_sms_code_at(&alice, later).await), "sms_per_user");
    // A setup by the same user is refused too, and keeps the pending enrolment.
    assert_eq!(refused_by(a.setup_sms_device(&alice, "+14155550101", "other").await), "sms_per_user");
    assert_eq!(a.list_devices(&alice).await.unwrap().len(), 1);
    assert_eq!(phone.sent(), 2);

    // Per number: whoever asks.
    a.setup_sms_device(&user::<Id>(2), shared, "phone").await.unwrap();
    assert_eq!(refused_by(a.setup_sms_device(&user::<Id>(3), shared, "phone").await), "sms_per_number");
    // Per address: 3 sent from ip1 so far.
    a.setup_sms_device(&user::<Id>(4), "+14155550104", "phone").await.unwrap();
    assert_eq!(refused_by(a.setup_sms_device(&user::<Id>(5), "+14155550105", "phone").await), "sms_per_address");
    // Global: 4 sent so far; another address gets one more.
    b.setup_sms_device(&user::<Id>(6), "+14155550106", "phone").await.unwrap();
    assert_eq!(refused_by(b.setup_sms_device(&user::<Id>(7), "+14155550107", "phone").await), "sms_global");
    assert_eq!(phone.sent(), 5, "exactly the global quota was sent");

    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    let limited: Vec<&AuditEvent> = events.iter().filter(|e| e.event_type.as_str() == "rate_limit_exceeded").collect();
    let kinds: Vec<&str> = limited.iter().map(|e| e.details["limit_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sms_per_user", "sms_per_user", "sms_per_number", "sms_per_address", "sms_global"]);
    assert!(limited.iter().all(|e| e.actor_id.is_some()), "each refusal names the user");
    assert_eq!(limited[3].client_ip, Some(ip1));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("4155550"), "no phone number in the audit trail");
}
mfa_test!(every_sms_counts_against_each_quota_test, every_sms_counts_against_each_quota);

/// A message a quota refuses costs none of the other quotas: the per-user unit taken before
/// the per-number quota refused is given back. Each refusal used to keep it, so a user whose
/// setups were refused for the number (or, worse, for the global quota an attacker
/// exhausted) ran out of their own quota without a message.
async fn a_refused_message_costs_no_quota<Id: TestId>(t: &TestDb) {
    let hour = Duration::from_secs(3600);
    let sms_quotas = SmsQuotas {
        per_user: Quota::new(2, hour),
        per_number: Quota::new(1, hour),
        per_address: Quota::new(100, hour),
        global: Quota::new(100, hour),
    };
    let phone = Phone::default();
    let config = MfaConfig { sms_quotas, ..MfaConfig::default() };
    let mfa = manager::<Id>(t.db.clone(), config).with_sms_provider(phone.clone()).unwrap();
    let alice = user::<Id>(1);
    mfa.setup_sms_device(&alice, "+14155550100", "phone").await.unwrap();
    for _ in 0..3 {
        assert_eq!(refused_by(mfa.setup_sms_device(&alice, "+14155550100", "phone").await), "sms_per_number");
    }
    mfa.setup_sms_device(&alice, "+14155550101", "other").await.unwrap();
    assert_eq!(refused_by(mfa.setup_sms_device(&alice, "+14155550102", "third").await), "sms_per_user");
    assert_eq!(phone.sent(), 2);
}
mfa_test!(a_refused_message_costs_no_quota_test, a_refused_message_costs_no_quota);

async fn countries_and_pending_enrolments_are_limited<Id: TestId>(t: &TestDb) {
    let capture = MemorySink::default();
    let logger = AuditLogger::builder().sink(capture.clone()).build();
    let phone = Phone::default();
    let config =
        MfaConfig { sms_allowed_country_codes: vec!["1".to_owned()], max_pending_devices: 1, ..MfaConfig::default() };
    let mfa = manager::<Id>(t.db.clone(), config).with_audit_logger(logger.clone());
    let mfa = mfa.with_sms_provider(phone.clone()).unwrap();
    let alice = user::<Id>(1);

    let refused = mfa.setup_sms_device(&alice, "+44 7700 900123", "phone").await;
    assert!(matches!(refused, Err(MfaError::SmsCountryNotAllowed)), "{refused:?}");
    assert!(refused.unwrap_err().to_string().contains("country"));
    assert!(mfa.list_devices(&alice).await.unwrap().is_empty());
    assert_eq!(phone.sent(), 0);

    // One pending enrolment at a time: a TOTP one blocks a new SMS one...
    let setup = mfa.setup_totp_device(&alice, "app").await.unwrap();
    assert_eq!(refused_by_pending(mfa.setup_sms_device(&alice, "+14155550123", "phone").await), "pending_devices");
    assert_eq!(phone.sent(), 0);
    // ...but replacing it is allowed, and once confirmed the SMS one may start.
    let replaced = mfa.setup_totp_device(&alice, "app").await.unwrap();
    assert_ne!(replaced.device_id, setup.device_id);
    let setup = replaced;
    let secret = base32_decode(&setup.secret);
    assert!(mfa.verify_totp_code_at(&alice, &rfc_totp_sha1(&secret, T0 as u64, 30, 6), at(T0)).await.unwrap());
    mfa.setup_sms_device(&alice, "+14155550123", "phone").await.unwrap();
    assert_eq!(phone.sent(), 1);

    // A device set up before the allow-list changed is held to it too.
    let bob = user::<Id>(2);
    let open = manager::<Id>(t.db.clone(), MfaConfig::default()).with_sms_provider(phone.clone()).unwrap();
    open.setup_sms_device(&bob, "+44 7700 900123", "phone").await.unwrap();
    assert_eq!(phone.sent(), 2);
    let resend = mfa.send_sms_code_at(&bob, Utc::now() + chrono::Duration::seconds(61)).await;
    assert!(matches!(resend, Err(MfaError::SmsCountryNotAllowed)), "{resend:?}");
    assert_eq!(phone.sent(), 2);

    logger.flush().await.expect("flush the audit logger");
    let events = capture.events();
    assert!(
        events
            .iter()
            .any(|e| e.event_type.as_str() == "mfa_failed" && e.details["reason"] == "destination country not allowed")
    );
    assert!(
        events
            .iter()
            .any(|e| e.event_type.as_str() == "rate_limit_exceeded" && e.details["limit_type"] == "pending_devices")
    );
}
mfa_test!(countries_and_pending_enrolments_are_limited_test, countries_and_pending_enrolments_are_limited);

/// Concurrent setups by one user: each one the quota lets through sends its code. A setup
/// used to take its quota unit, insert its device and only then store the code by a
/// compare-and-set; a concurrent setup dropping the device in between made it fail as "resend
/// throttled", with the unit spent and no SMS sent.
async fn concurrent_setups_each_send_the_code_they_paid_for<Id: TestId>(t: &TestDb) {
    let hour = Duration::from_secs(3600);
    let quotas = SmsQuotas {
        per_user: Quota::new(12, hour),
        per_number: Quota::new(100, hour),
        per_address: Quota::new(100, hour),
        global: Quota::new(100, hour),
    };
    let phone = Phone::default();
    let config = MfaConfig { sms_quotas: quotas, max_pending_devices: 1, ..MfaConfig::default() };
    let mfa = manager::<Id>(t.db.clone(), config).with_sms_provider(phone.clone()).unwrap();
    let alice = user::<Id>(1);
    let setups = (0..16).map(|i| {
        let (mfa, alice) = (&mfa, &alice);
        async move { mfa.setup_sms_device(alice, &format!("+1415555{i:04}"), "phone").await }
    });
    let results = futures::future::join_all(setups).await;

    let (accepted, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    for result in refused {
        assert_eq!(refused_by(result), "sms_per_user", "only the quota refuses, never the setups' own race");
    }
    assert_eq!(accepted.len(), 12);
    assert_eq!(phone.sent(), 12, "every quota unit paid for a message");
    // Setups take turns replacing the pending enrolment: exactly one stays, one of theirs.
    let pending = mfa.list_devices(&alice).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let ids: Vec<uuid::Uuid> = accepted.into_iter().map(Result::unwrap).collect();
    assert!(ids.contains(&pending[0].id), "{pending:?}");
}
mfa_test!(concurrent_setups_each_send_the_code_they_paid_for_test, concurrent_setups_each_send_the_code_they_paid_for);

/// Concurrent TOTP setups by one user replace each other's pending enrolment in turn:
/// exactly one stays, and only its secret confirms it. Before enrolments took the user's row
/// lock, each setup could drop the others' enrolments before any inserted, leaving several
/// pending devices (several live secrets) behind.
async fn concurrent_totp_setups_leave_one_pending_enrolment<Id: TestId>(t: &TestDb) {
    // Room for the eleven wrong codes below without a back-off.
    let throttle = ThrottleConfig { free_attempts: 15, lockout_threshold: 20, ..ThrottleConfig::default() };
    let mfa = manager::<Id>(t.db.clone(), MfaConfig { throttle, ..MfaConfig::default() });
    let alice = user::<Id>(1);
    let setups = (0..12).map(|i| {
        let (mfa, alice) = (&mfa, &alice);
        async move { mfa.setup_totp_device(alice, &format!("app {i}")).await }
    });
    let setups: Vec<_> = futures::future::join_all(setups).await.into_iter().map(Result::unwrap).collect();

    let pending = mfa.list_devices(&alice).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let kept = setups.iter().find(|s| s.device_id == pending[0].id).expect("the pending device is one of the setups'");
    for replaced in setups.iter().filter(|s| s.device_id != kept.device_id) {
        let code = rfc_totp_sha1(&base32_decode(&replaced.secret), T0 as u64, 30, 6);
        assert!(!mfa.verify_totp_code_at(&alice, &code, at(T0)).await.unwrap(), "a replaced secret confirms nothing");
    }
    let code = rfc_totp_sha1(&base32_decode(&kept.secret), T0 as u64 + 30, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &code, at(T0 + 30)).await.unwrap());
}
mfa_test!(concurrent_totp_setups_leave_one_pending_enrolment_test, concurrent_totp_setups_leave_one_pending_enrolment);

/// With `max_pending_devices = 1`, a TOTP and an SMS setup racing for one user: one enrols,
/// the other is refused by the cap. The cap used to be a count before the enrolment's
/// transaction, so both counted zero and both enrolled.
async fn racing_setups_of_both_kinds_respect_the_pending_cap<Id: TestId>(t: &TestDb) {
    let phone = Phone::default();
    let hour = Duration::from_secs(3600);
    let sms_quotas = SmsQuotas { global: Quota::new(8, hour), ..SmsQuotas::default() };
    let config = MfaConfig { max_pending_devices: 1, sms_quotas, ..MfaConfig::default() };
    let mfa = manager::<Id>(t.db.clone(), config).with_sms_provider(phone.clone()).unwrap();
    let mut sms_enrolled = 0;
    for n in 1..=8 {
        let user = user::<Id>(n);
        let number = format!("+1415555{n:04}");
        let (totp, sms) =
            tokio::join!(mfa.setup_totp_device(&user, "app"), mfa.setup_sms_device(&user, &number, "phone"));
        let pending = mfa.list_devices(&user).await.unwrap();
        assert_eq!(pending.len(), 1, "user {n}: {pending:?}");
        match (totp, sms) {
            (Ok(setup), refused) => {
                assert_eq!(refused_by_pending(refused), "pending_devices");
                assert_eq!(pending[0].id, setup.device_id);
            }
            (refused, Ok(device_id)) => {
                assert_eq!(refused_by_pending(refused), "pending_devices");
                assert_eq!(pending[0].id, device_id);
                sms_enrolled += 1;
            }
            (totp, sms) => panic!("user {n}: one setup must enrol, got {totp:?} and {sms:?}"),
        }
    }
    assert_eq!(phone.sent(), sms_enrolled, "a refused SMS setup sends nothing");
    // ... and costs nothing: the global quota of 8 has a unit left for every message not sent,
    // including those of setups refused at the enrolment's locked recount.
    let mut more = 0;
    while mfa.setup_sms_device(&user::<Id>(100 + more), &format!("+1415556{more:04}"), "phone").await.is_ok() {
        more += 1;
    }
    assert_eq!(sms_enrolled + more as usize, 8, "{sms_enrolled} enrolled in the race, then {more}");
}
mfa_test!(
    racing_setups_of_both_kinds_respect_the_pending_cap_test,
    racing_setups_of_both_kinds_respect_the_pending_cap
);

/// A setup and a verification of the same user race, round after round: both take the
/// user's throttle row lock before any device row, so neither fails with a database error
/// and every fresh code is accepted. With the enrolment deleting the pending device rows
/// before it takes the throttle lock, MariaDB reports an InnoDB deadlock here within a few
/// rounds.
async fn setups_racing_verifications_never_fail_on_the_database<Id: TestId>(t: &TestDb) {
    let mfa = manager::<Id>(t.db.clone(), MfaConfig::default());
    let alice = user::<Id>(1);
    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let secret = base32_decode(&setup.secret);
    let code = |unix: i64| rfc_totp_sha1(&secret, unix as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &code(T0), at(T0)).await.unwrap());
    for round in 1..=40 {
        let now = T0 + round * 30;
        let fresh = code(now);
        let (verified, enrolled) =
            tokio::join!(mfa.verify_totp_code_at(&alice, &fresh, at(now)), mfa.setup_totp_device(&alice, "laptop"));
        assert!(verified.unwrap_or_else(|e| panic!("round {round}: the verification failed: {e}")), "round {round}");
        enrolled.unwrap_or_else(|e| panic!("round {round}: the setup failed: {e}"));
    }
    let devices = mfa.list_devices(&alice).await.unwrap();
    assert_eq!(devices.len(), 2, "the confirmed phone and one pending laptop: {devices:?}");
}
mfa_test!(
    setups_racing_verifications_never_fail_on_the_database_test,
    setups_racing_verifications_never_fail_on_the_database
);

fn refused_by_pending(result: Result<impl std::fmt::Debug, MfaError>) -> &'static str {
    match result {
        Err(MfaError::RateLimited { what, retry_after: None }) => what,
        other => panic!("expected the pending-device cap, got {other:?}"),
    }
}

/// Two instances sharing one Redis enforce one quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_the_sms_quotas() {
    let Ok(url) = std::env::var("RAIL_TEST_REDIS_URL") else {
        assert!(
            std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v != "1")
                || std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_err(),
            "RAIL_TEST_REDIS_URL is not set but RAIL_TEST_REQUIRE_BACKENDS=1: point it at a running Redis"
        );
        eprintln!("note: Redis SMS quota test SKIPPED: set RAIL_TEST_REDIS_URL to run it");
        return;
    };
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    crate::common::prepare::<i64>(&t).await;
    let prefix = format!("rail_sms_{}", uuid::Uuid::new_v4().simple());
    let phone = Phone::default();
    let instance = |limiter: RateLimiter| -> MfaManager<i64> {
        manager::<i64>(t.db.clone(), MfaConfig::default())
            .with_rate_limiter(limiter)
            .with_sms_provider(phone.clone())
            .unwrap()
    };
    let a = instance(RateLimiter::redis(&url, &prefix).await.expect("connect to Redis"));
    let b = instance(RateLimiter::redis(&url, &prefix).await.expect("connect to Redis"));
    let alice = user::<i64>(1);
    let soon = |s: i64| Utc::now() + chrono::Duration::seconds(s);
    a.setup_sms_device(&alice, "+14155550123", "phone").await.unwrap();
    b.send_sms_code_at(&alice, soon(61)).await.unwrap();
    a.send_sms_code_at(&alice, soon(122)).await.unwrap();
    assert_eq!(refused_by(b.send_sms_code_at(&alice, soon(183)).await), "sms_per_user");
    assert_eq!(phone.sent(), 3, "the default 3 per hour, across both instances");
    // Each alone in memory would have allowed a 4th.
    let alone = instance(RateLimiter::memory());
    alone.send_sms_code_at(&alice, soon(244)).await.unwrap();
    t.cleanup().await;
}

#[test]
fn the_new_settings_are_validated() {
    let invalid = |config: MfaConfig| match config.validate() {
        Err(MfaError::Config(message)) => message,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(invalid(MfaConfig { max_consecutive_failures: 101, ..MfaConfig::default() }).contains("NIST"));
    assert!(invalid(MfaConfig { max_consecutive_failures: 0, ..MfaConfig::default() }).contains("between 1 and 100"));
    assert!(invalid(MfaConfig { max_pending_devices: 0, ..MfaConfig::default() }).contains("max_pending_devices"));
    let mut quotas = SmsQuotas::default();
    quotas.per_number.window = Duration::ZERO;
    assert!(invalid(MfaConfig { sms_quotas: quotas, ..MfaConfig::default() }).contains("sms_quotas.per_number"));
    for bad in ["+1", "abc", "0", "1234", ""] {
        let config = MfaConfig { sms_allowed_country_codes: vec![bad.to_owned()], ..MfaConfig::default() };
        assert!(invalid(config).contains("sms_allowed_country_codes"), "{bad}");
    }
    assert_eq!(MfaConfig::default().max_consecutive_failures, 100);
    assert!(
        MfaConfig { sms_allowed_country_codes: vec!["1".into(), "33".into(), "353".into()], ..MfaConfig::default() }
            .validate()
            .is_ok()
    );
}
