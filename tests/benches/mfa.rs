//! MFA benchmarks, each against a raw baseline in the same run:
//!
//! - `verify_totp_code_at` end to end (throttle row lock, device load, AES-GCM decrypt, code
//!   check, compare-and-set UPDATE, outcome, commit) vs. a raw SeaORM SELECT of the same device
//!   row plus the same conditional UPDATE (two autocommit statements). Target: ≤ 1.3×. On
//!   embedded SQLite and, when `RAIL_TEST_POSTGRES_URL` is set, on PostgreSQL (a schema of its
//!   own). Both sides run interleaved in ABBA rounds; the bench prints the median per-round
//!   ratio and its interquartile range at the end (`RAIL_BENCH_ROUNDS` sets the number of
//!   rounds, 30 by default).
//! - `mfa_backup_code/verify` (criterion): one `verify_backup_code` with the default Argon2id
//!   cost (19 MiB, 2 passes) against a full set of 10 codes.
//!
//! `cargo bench -p integration-tests --bench mfa`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

#[path = "support/ratio.rs"]
mod ratio;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb, base32_decode};
use rail_graphql_security::mfa::{
    EncryptionKey, MfaAccount, MfaConfig, MfaManager, SecretCipher, TotpAlgorithm, totp_code_at,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use tokio::runtime::Runtime;

/// Verifications per round and side.
const PER_ROUND: u32 = 40;

fn instant(step: u64) -> DateTime<Utc> {
    Utc.timestamp_opt((step * 30) as i64, 0).single().expect("valid time")
}

/// `sql` with `?` placeholders, numbered (`$1`, ...) for PostgreSQL.
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The TOTP comparison on one backend; `None` when the backend is not configured.
fn compare_totp(rt: &Runtime, backend: Backend, rounds: usize) -> Option<ratio::Comparison> {
    let t = rt.block_on(TestDb::new(backend))?;
    let db_backend = t.db.get_database_backend();
    let key = EncryptionKey::new("k1", [1; 32]).expect("key");
    let mfa = MfaManager::<i64>::new(t.db.clone(), MfaConfig::default(), SecretCipher::new(key)).expect("manager");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let setup = rt.block_on(mfa.setup_totp_device(&alice, "phone")).expect("setup");
    let secret = base32_decode(&setup.secret);
    let device_id = setup.device_id.to_string();
    // One step counter for both sides: every call uses a fresh, later time step.
    let step = AtomicU64::new(1_790_000_010 / 30);
    let manager = || {
        let mut total = Duration::ZERO;
        for _ in 0..PER_ROUND {
            let s = step.fetch_add(1, Ordering::Relaxed);
            let code = totp_code_at(TotpAlgorithm::Sha1, 6, 30, &secret, s * 30);
            let start = Instant::now();
            let ok = rt.block_on(mfa.verify_totp_code_at(&alice, &code, instant(s))).expect("verify");
            total += start.elapsed();
            assert!(ok);
        }
        total.as_secs_f64() * 1e6 / f64::from(PER_ROUND)
    };
    let raw = || {
        let mut total = Duration::ZERO;
        for _ in 0..PER_ROUND {
            let s = step.fetch_add(1, Ordering::Relaxed);
            let start = Instant::now();
            rt.block_on(async {
                let row =
                    t.db.query_one_raw(statement(
                        db_backend,
                        "SELECT id, secret_key, key_id, last_totp_step FROM mfa_devices \
                         WHERE user_id = ? AND device_type = 'totp' AND is_active = ?",
                        vec![1_i64.into(), true.into()],
                    ))
                    .await
                    .expect("select")
                    .expect("row");
                let _secret: String = row.try_get("", "secret_key").expect("secret");
                let updated =
                    t.db.execute_raw(statement(
                        db_backend,
                        "UPDATE mfa_devices SET last_totp_step = ?, last_used = ? \
                         WHERE id = ? AND (last_totp_step IS NULL OR last_totp_step < ?)",
                        vec![(s as i64).into(), instant(s).into(), device_id.clone().into(), (s as i64).into()],
                    ))
                    .await
                    .expect("update");
                assert_eq!(updated.rows_affected(), 1);
            });
            total += start.elapsed();
        }
        total.as_secs_f64() * 1e6 / f64::from(PER_ROUND)
    };
    // Warm both paths (prepared-statement caches, the throttle row) before measuring.
    manager();
    raw();
    let label = format!("verify_totp_code, {}", if backend == Backend::Sqlite { "SQLite (WAL)" } else { "PostgreSQL" });
    let comparison = ratio::interleave(label, rounds, raw, manager);
    rt.block_on(t.cleanup());
    Some(comparison)
}

fn bench_totp(_: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let rounds = ratio::rounds(30);
    let rows: Vec<_> =
        [Backend::Sqlite, Backend::Postgres].into_iter().filter_map(|b| compare_totp(&rt, b, rounds)).collect();
    ratio::print_table("MFA: verify_totp_code", "raw SELECT + UPDATE", "verify_totp_code", 1.3, &rows);
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

// The TOTP comparison last, so its table ends the output.
criterion_group!(benches, bench_backup, bench_totp);
criterion_main!(benches);
