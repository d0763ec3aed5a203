//! Trusted devices: hashed random tokens bound to the user, expiry and purge, listing,
//! revocation and the MFA bypass.

use chrono::{Duration, Utc};
use rail_graphql_security::mfa::MfaConfig;
use sea_orm::{ConnectionTrait, Statement};
use sha2::{Digest, Sha256};

use crate::common::{TestId, base32_decode, contains, dump, manager, rfc_totp_sha1, user};
use crate::mfa_test;
use integration_tests::TestDb;

async fn count_rows(t: &TestDb) -> i64 {
    let row =
        t.db.query_one_raw(Statement::from_string(t.db_backend(), "SELECT COUNT(*) FROM trusted_devices"))
            .await
            .unwrap()
            .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn tokens_are_hashed_bound_expiring_and_revocable<Id: TestId>(t: &TestDb) {
    let mfa = manager::<Id>(t.db.clone(), MfaConfig { trusted_device_duration_days: 30, ..Default::default() });
    let (alice, bob) = (user::<Id>(1), user::<Id>(2));

    // Alice has a confirmed TOTP device, so she needs a second factor...
    let setup = mfa.setup_totp_device(&alice, "phone").await.unwrap();
    let now = Utc::now();
    let code = rfc_totp_sha1(&base32_decode(&setup.secret), now.timestamp() as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(&alice, &code, now).await.unwrap());
    assert!(mfa.is_mfa_required_on_device(&alice, None).await.unwrap());

    let laptop =
        mfa.register_trusted_device(&alice, "My Laptop", Some("Mozilla/5.0"), "192.0.2.10".parse().ok()).await.unwrap();
    assert_eq!(laptop.token.len(), 43, "256 bits in URL-safe base64");
    assert!(!format!("{laptop:?}").contains(laptop.token.as_str()));
    let days = (laptop.expires_at - Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");

    // ...except on her trusted device; a wrong token or bob's token does not help.
    assert!(!mfa.is_mfa_required_on_device(&alice, Some(&laptop.token)).await.unwrap());
    assert!(mfa.is_mfa_required_on_device(&alice, Some("not-a-token")).await.unwrap());
    assert!(!mfa.verify_trusted_device(&bob, &laptop.token).await.unwrap(), "bound to the user");
    let bobs = mfa.register_trusted_device(&bob, "Bob PC", None, None).await.unwrap();
    assert!(mfa.is_mfa_required_on_device(&alice, Some(&bobs.token)).await.unwrap());

    // Only the SHA-256 is stored.
    let dumped = dump(t).await;
    assert!(!contains(&dumped, laptop.token.as_bytes()) && !contains(&dumped, bobs.token.as_bytes()));
    assert!(contains(&dumped, hex::encode(Sha256::digest(laptop.token.as_bytes())).as_bytes()));

    // Listing shows the device; use updates last_used.
    let later = Utc::now() + Duration::hours(5);
    assert!(mfa.verify_trusted_device_at(&alice, &laptop.token, later).await.unwrap());
    let listed = mfa.list_trusted_devices(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].device_name, "My Laptop");
    assert_eq!(listed[0].ip_address.as_deref(), Some("192.0.2.10"));
    assert_eq!(listed[0].user_agent.as_deref(), Some("Mozilla/5.0"));
    assert!((listed[0].last_used - later).num_seconds().abs() <= 1);

    // Expired tokens are refused and purged.
    let phone = mfa.register_trusted_device(&alice, "Phone", None, None).await.unwrap();
    assert_eq!(count_rows(t).await, 3);
    let expired = Utc::now() + Duration::days(31);
    assert!(!mfa.verify_trusted_device_at(&alice, &phone.token, expired).await.unwrap());
    assert_eq!(count_rows(t).await, 1, "alice's expired devices are gone, bob's is not");
    assert!(mfa.verify_trusted_device(&bob, &bobs.token).await.unwrap());

    // Revocation: one, then all.
    let a1 = mfa.register_trusted_device(&alice, "A1", None, None).await.unwrap();
    let a2 = mfa.register_trusted_device(&alice, "A2", None, None).await.unwrap();
    assert!(!mfa.revoke_trusted_device(&bob, a1.device_id).await.unwrap(), "bob cannot revoke alice's device");
    assert!(mfa.revoke_trusted_device(&alice, a1.device_id).await.unwrap());
    assert!(!mfa.verify_trusted_device(&alice, &a1.token).await.unwrap());
    assert!(mfa.verify_trusted_device(&alice, &a2.token).await.unwrap());
    let a3 = mfa.register_trusted_device(&alice, "A3", None, None).await.unwrap();
    assert_eq!(mfa.revoke_all_trusted_devices(&alice).await.unwrap(), 2);
    assert!(!mfa.verify_trusted_device(&alice, &a3.token).await.unwrap());
    assert!(mfa.list_trusted_devices(&alice).await.unwrap().is_empty());
    assert_eq!(mfa.list_trusted_devices(&bob).await.unwrap().len(), 1);
}
mfa_test!(tokens_are_hashed_bound_expiring_and_revocable, tokens_are_hashed_bound_expiring_and_revocable);
