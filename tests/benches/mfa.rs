//! MFA benchmarks, each against a raw baseline in the same run:
//!
//! - `verify_totp_code_at` end to end (throttle row lock, device load, AES-GCM decrypt, code
//!   check, compare-and-set UPDATE, outcome, commit) vs. a raw SeaORM SELECT of the same device
//!   row plus the same conditional UPDATE (two autocommit statements). Target: ≤ 1.3×. On
//!   embedded SQLite and, when `RAIL_TEST_POSTGRES_URL` is set, on PostgreSQL (a schema of its
//!   own). Both sides run interleaved in ABBA rounds; the bench prints the median per-round
//!   ratio and its interquartile range at the end (`RAIL_BENCH_ROUNDS` sets the number of
//!   rounds, 30 by default).
//! - `verify_sms_code_at` the same way (one transaction under the throttle row's lock, code
//!   MAC, compare-and-set UPDATE erasing the code) vs. a raw SELECT of the device's code plus
//!   the same conditional UPDATE. Each verification checks a fresh code, sent (untimed) just
//!   before through an in-memory provider.
//! - `mfa_backup_code/verify` (criterion): one `verify_backup_code` with the default Argon2id
//!   cost (19 MiB, 2 passes) against a full set of 10 codes.
//!
//! `cargo bench -p integration-tests --bench mfa`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

#[path = "support/ratio.rs"]
mod ratio;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb, base32_decode};
use rail_graphql_security::mfa::sms::{SmsError, SmsProvider};
use rail_graphql_security::mfa::{
    EncryptionKey, MfaAccount, MfaConfig, MfaManager, SecretCipher, SmsQuotas, TotpAlgorithm, totp_code_at,
};
use rail_graphql_security::rate_limit::Quota;
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

/// The mean of `PER_ROUND` calls of `one`, each returning the time it measured, in µs.
fn mean_micros(mut one: impl FnMut() -> Duration) -> f64 {
    let total: Duration = (0..PER_ROUND).map(|_| one()).sum();
    total.as_secs_f64() * 1e6 / f64::from(PER_ROUND)
}

/// The raw baseline of a verification, timed: a SELECT of `columns` of user 1's active device
/// of `kind`, reading the first column after `id` as text, then the conditional `update` (with
/// the values `update_values` makes of that text), which must change one row. Two autocommit
/// statements.
fn raw_select_then_update(
    rt: &Runtime,
    t: &TestDb,
    kind: &str,
    columns: [&str; 4],
    update: &str,
    update_values: impl FnOnce(String) -> Vec<Value>,
) -> Duration {
    let backend = t.db.get_database_backend();
    let start = Instant::now();
    rt.block_on(async {
        let select = format!(
            "SELECT {} FROM mfa_devices WHERE user_id = ? AND device_type = '{kind}' AND is_active = ?",
            columns.join(", ")
        );
        let row =
            t.db.query_one_raw(statement(backend, &select, vec![1_i64.into(), true.into()]))
                .await
                .expect("select")
                .expect("row");
        let value: String = row.try_get("", columns[1]).expect("the column's text");
        let updated = t.db.execute_raw(statement(backend, update, update_values(value))).await.expect("update");
        assert_eq!(updated.rows_affected(), 1);
    });
    start.elapsed()
}

/// The row label of a comparison.
fn label(function: &str, backend: Backend) -> String {
    format!("{function}, {}", if backend == Backend::Sqlite { "SQLite (WAL)" } else { "PostgreSQL" })
}

/// The TOTP comparison on one backend; `None` when the backend is not configured.
fn compare_totp(rt: &Runtime, backend: Backend, rounds: usize) -> Option<ratio::Comparison> {
    let t = rt.block_on(TestDb::new(backend))?;
    let key = EncryptionKey::new("k1", [1; 32]).expect("key");
    let mfa = MfaManager::<i64>::new(t.db.clone(), MfaConfig::default(), SecretCipher::new(key)).expect("manager");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let setup = rt.block_on(mfa.setup_totp_device(&alice, "phone")).expect("setup");
    let secret = base32_decode(&setup.secret);
    let device_id = setup.device_id.to_string();
    // One step counter for both sides: every call uses a fresh, later time step.
    let step = AtomicU64::new(1_790_000_010 / 30);
    let manager = || {
        mean_micros(|| {
            let s = step.fetch_add(1, Ordering::Relaxed);
            let code = totp_code_at(TotpAlgorithm::Sha1, 6, 30, &secret, s * 30);
            let start = Instant::now();
            let ok = rt.block_on(mfa.verify_totp_code_at(&alice, &code, instant(s))).expect("verify");
            let elapsed = start.elapsed();
            assert!(ok);
            elapsed
        })
    };
    let raw = || {
        mean_micros(|| {
            let s = step.fetch_add(1, Ordering::Relaxed) as i64;
            raw_select_then_update(
                rt,
                &t,
                "totp",
                ["id", "secret_key", "key_id", "last_totp_step"],
                "UPDATE mfa_devices SET last_totp_step = ?, last_used = ? \
                 WHERE id = ? AND (last_totp_step IS NULL OR last_totp_step < ?)",
                |_secret| vec![s.into(), instant(s as u64).into(), device_id.clone().into(), s.into()],
            )
        })
    };
    // Warm both paths (prepared-statement caches, the throttle row) before measuring.
    manager();
    raw();
    let comparison = ratio::interleave(label("verify_totp_code", backend), rounds, raw, manager);
    rt.block_on(t.cleanup());
    Some(comparison)
}

/// Keeps the last SMS "sent".
#[derive(Debug, Clone, Default)]
struct Outbox(Arc<Mutex<String>>);

#[async_trait::async_trait]
impl SmsProvider for Outbox {
    fn name(&self) -> &'static str {
        "bench-outbox"
    }
    async fn send(&self, _to: &str, body: &str) -> Result<(), SmsError> {
        *self.0.lock().expect("outbox") = body.to_owned();
        Ok(())
    }
}

impl Outbox {
    /// The code in the last message: its run of six digits.
    fn code(&self) -> String {
        let body = self.0.lock().expect("outbox");
        body.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6).expect("a six-digit code").to_owned()
    }
}

/// The SMS comparison on one backend; `None` when the backend is not configured.
fn compare_sms(rt: &Runtime, backend: Backend, rounds: usize) -> Option<ratio::Comparison> {
    let t = rt.block_on(TestDb::new(backend))?;
    let key = EncryptionKey::new("k1", [1; 32]).expect("key");
    let many = Quota::new(u32::MAX, Duration::from_secs(3600));
    let config = MfaConfig {
        sms_code_digits: 6,
        sms_quotas: SmsQuotas { per_user: many, per_number: many, per_address: many, global: many },
        ..MfaConfig::default()
    };
    let outbox = Outbox::default();
    let mfa = MfaManager::<i64>::new(t.db.clone(), config, SecretCipher::new(key))
        .expect("manager")
        .with_sms_provider(outbox.clone())
        .expect("provider");
    let alice = MfaAccount::new(1_i64, "alice@example.com");
    let device_id = rt.block_on(mfa.setup_sms_device(&alice, "+14155550123", "phone")).expect("setup").to_string();
    assert!(rt.block_on(mfa.verify_sms_code(&alice, &outbox.code())).expect("confirm"));
    // Every send is a resend interval (60 s) after the last: one clock for both sides.
    let start_at = Utc::now() + chrono::Duration::days(1);
    let sends = AtomicU64::new(0);
    let send = || {
        let at = start_at + chrono::Duration::minutes(2 * sends.fetch_add(1, Ordering::Relaxed) as i64);
        rt.block_on(mfa.send_sms_code_at(&alice, at)).expect("send");
        at
    };
    let manager = || {
        mean_micros(|| {
            let at = send();
            let code = outbox.code();
            let start = Instant::now();
            let ok = rt.block_on(mfa.verify_sms_code_at(&alice, &code, at)).expect("verify");
            let elapsed = start.elapsed();
            assert!(ok);
            elapsed
        })
    };
    let raw = || {
        mean_micros(|| {
            send();
            raw_select_then_update(
                rt,
                &t,
                "sms",
                ["id", "sms_code_hash", "sms_code_expires_at", "sms_code_attempts"],
                "UPDATE mfa_devices SET sms_code_hash = NULL, sms_code_expires_at = NULL \
                 WHERE id = ? AND sms_code_hash = ? AND sms_code_attempts < 5",
                |hash| vec![device_id.clone().into(), hash.into()],
            )
        })
    };
    manager();
    raw();
    let comparison = ratio::interleave(label("verify_sms_code", backend), rounds, raw, manager);
    rt.block_on(t.cleanup());
    Some(comparison)
}

/// One comparison on SQLite and PostgreSQL, printed as a table.
fn bench_verification(function: &str, compare: fn(&Runtime, Backend, usize) -> Option<ratio::Comparison>) {
    let rt = Runtime::new().expect("runtime");
    let rounds = ratio::rounds(30);
    let rows: Vec<_> =
        [Backend::Sqlite, Backend::Postgres].into_iter().filter_map(|b| compare(&rt, b, rounds)).collect();
    ratio::print_table(&format!("MFA: {function}"), "raw SELECT + UPDATE", function, 1.3, &rows);
}

fn bench_totp(_: &mut Criterion) {
    bench_verification("verify_totp_code", compare_totp);
}

fn bench_sms(_: &mut Criterion) {
    bench_verification("verify_sms_code", compare_sms);
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

// The ratio comparisons last, so their tables end the output.
criterion_group!(benches, bench_backup, bench_sms, bench_totp);
criterion_main!(benches);
