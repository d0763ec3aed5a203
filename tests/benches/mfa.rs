//! MFA benchmarks on embedded SQLite, each against a raw baseline in the same run:
//!
//! - `mfa_verify_totp/manager`: `MfaManager::verify_totp_code_at` end to end (throttle check,
//!   device load, AES-GCM decrypt, code check, compare-and-set UPDATE), vs.
//!   `mfa_verify_totp/raw_select_update`: a raw SeaORM SELECT of the same row plus the same
//!   conditional UPDATE. Target: manager ≤ 1.3 × raw.
//! - `mfa_backup_code/verify`: one `verify_backup_code` with the default Argon2id cost
//!   (19 MiB, 2 passes) against a full set of 10 codes.
//!
//! `cargo bench -p integration-tests --bench mfa`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb, base32_decode};
use rail_graphql_security::mfa::{
    EncryptionKey, MfaAccount, MfaConfig, MfaManager, SecretCipher, TotpAlgorithm, totp_code_at,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use tokio::runtime::Runtime;

fn instant(step: u64) -> DateTime<Utc> {
    Utc.timestamp_opt((step * 30) as i64, 0).single().expect("valid time")
}

fn bench_totp(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let t = rt.block_on(TestDb::new(Backend::Sqlite)).expect("SQLite always runs");
    let key = EncryptionKey::new("k1", [1; 32]).expect("key");
    let mfa = MfaManager::<i64>::new(t.db.clone(), MfaConfig::default(), SecretCipher::new(key)).expect("manager");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let setup = rt.block_on(mfa.setup_totp_device(&alice, "phone")).expect("setup");
    let secret = base32_decode(&setup.secret);
    let device_id = setup.device_id.to_string();
    // One step counter for both variants: every call uses a fresh, later time step.
    let step = AtomicU64::new(1_790_000_010 / 30);

    let mut group = c.benchmark_group("mfa_verify_totp");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.bench_function("manager", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = step.fetch_add(1, Ordering::Relaxed);
                let code = totp_code_at(TotpAlgorithm::Sha1, 6, 30, &secret, s * 30);
                let start = Instant::now();
                let ok = rt.block_on(mfa.verify_totp_code_at(&alice, &code, instant(s))).expect("verify");
                total += start.elapsed();
                assert!(ok);
            }
            total
        })
    });
    group.bench_function("raw_select_update", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = step.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                rt.block_on(async {
                    let row =
                        t.db.query_one_raw(Statement::from_sql_and_values(
                            DatabaseBackend::Sqlite,
                            "SELECT id, secret_key, key_id, last_totp_step FROM mfa_devices \
                             WHERE user_id = ? AND device_type = 'totp' AND is_active = ?",
                            [1_i64.into(), true.into()],
                        ))
                        .await
                        .expect("select")
                        .expect("row");
                    let _secret: String = row.try_get("", "secret_key").expect("secret");
                    let updated =
                        t.db.execute_raw(Statement::from_sql_and_values(
                            DatabaseBackend::Sqlite,
                            "UPDATE mfa_devices SET last_totp_step = ?, last_used = ? \
                             WHERE id = ? AND (last_totp_step IS NULL OR last_totp_step < ?)",
                            [(s as i64).into(), instant(s).into(), device_id.clone().into(), (s as i64).into()],
                        ))
                        .await
                        .expect("update");
                    assert_eq!(updated.rows_affected(), 1);
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn bench_backup(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let t = rt.block_on(TestDb::new(Backend::Sqlite)).expect("SQLite always runs");
    let key = EncryptionKey::new("k1", [1; 32]).expect("key");
    let mfa = MfaManager::<i64>::new(t.db.clone(), MfaConfig::default(), SecretCipher::new(key)).expect("manager");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let mut codes = Vec::new();
    let mut group = c.benchmark_group("mfa_backup_code");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("verify", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if codes.is_empty() {
                    codes = rt.block_on(mfa.generate_backup_codes(&alice)).expect("generate");
                }
                let code = codes.pop().expect("a code");
                let start = Instant::now();
                let ok = rt.block_on(mfa.verify_backup_code(&alice, &code)).expect("verify");
                total += start.elapsed();
                assert!(ok);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_totp, bench_backup);
criterion_main!(benches);
