//! `is_mfa_required`: the global flag, confirmed devices, the policy hook; `disable_mfa`.

use chrono::Utc;
use rail_graphql_security::mfa::{MfaAccount, MfaConfig};
use sea_orm::{ConnectionTrait, Statement};

use crate::backup::fast_config;
use crate::common::{TestId, base32_decode, confirmed_totp, manager, rfc_totp_sha1, user};
use crate::mfa_test;
use integration_tests::TestDb;

async fn policy_flags_devices_and_disable_mfa<Id: TestId>(t: &TestDb) {
    let mfa = manager::<Id>(t.db.clone(), fast_config());
    let off = manager::<Id>(t.db.clone(), MfaConfig { enabled: false, ..fast_config() });
    let alice = user::<Id>(1);
    let admin = MfaAccount { mfa_required_by_policy: true, ..user::<Id>(2) };

    // The policy hook requires MFA before any enrolment; the global flag turns everything off.
    assert!(!mfa.is_mfa_required(&alice).await.unwrap());
    assert!(mfa.is_mfa_required(&admin).await.unwrap());
    assert!(!off.is_mfa_required(&admin).await.unwrap());

    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let now = Utc::now();
    let code = rfc_totp_sha1(&base32_decode(&setup.secret), now.timestamp() as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &code, now).await.unwrap());
    assert!(mfa.list_devices(&alice).await.unwrap()[0].is_primary);
    assert!(mfa.is_mfa_required(&alice).await.unwrap());
    assert!(!off.is_mfa_required(&alice).await.unwrap());
    mfa.generate_backup_codes(&alice).await.unwrap();
    mfa.register_trusted_device(&alice, "laptop", None, None).await.unwrap();
    // Bob's factors are not touched by alice's disable_mfa.
    let bob = user::<Id>(3);
    confirmed_totp(&mfa, &bob).await;
    mfa.generate_backup_codes(&bob).await.unwrap();

    mfa.disable_mfa(&alice).await.unwrap();
    assert!(!mfa.is_mfa_required(&alice).await.unwrap());
    assert!(mfa.list_devices(&alice).await.unwrap().iter().all(|d| !d.is_active));
    assert_eq!(mfa.remaining_backup_codes(&alice).await.unwrap(), 0);
    assert!(mfa.list_trusted_devices(&alice).await.unwrap().is_empty());
    assert_eq!(mfa.remaining_backup_codes(&bob).await.unwrap(), 10);
    let secrets =
        t.db.query_one_raw(Statement::from_string(
            t.db_backend(),
            "SELECT COUNT(*) FROM mfa_devices WHERE secret_key IS NOT NULL AND NOT is_active",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(secrets, 0, "disabled devices keep no secret");
}
mfa_test!(policy_flags_devices_and_disable_mfa, policy_flags_devices_and_disable_mfa);
