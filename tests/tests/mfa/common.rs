//! Shared support for the MFA tests.

use integration_tests::TestDb;
use rail_graphql_security::mfa::{EncryptionKey, MfaAccount, MfaConfig, MfaManager, MfaUserId, SecretCipher};
use rail_graphql_security::migration::{
    AddMfaThrottleHardLock, AddMfaThrottleKnownSources, CreateMfaTables, MfaUserIdColumn, MigrationTrait, SchemaManager,
};
use sea_orm::{ConnectionTrait, Statement};

/// A user id type under test.
pub(crate) trait TestId: MfaUserId {
    const COLUMN: MfaUserIdColumn;
    fn sample(n: u32) -> Self;
}

impl TestId for i64 {
    const COLUMN: MfaUserIdColumn = MfaUserIdColumn::BigInteger;
    fn sample(n: u32) -> Self {
        9_000_000_000 + i64::from(n)
    }
}

impl TestId for uuid::Uuid {
    const COLUMN: MfaUserIdColumn = MfaUserIdColumn::Uuid;
    fn sample(n: u32) -> Self {
        uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + u128::from(n))
    }
}

pub(crate) const MFA_TABLES: [&str; 4] = ["mfa_devices", "mfa_backup_codes", "trusted_devices", "mfa_throttle"];

/// Recreates the MFA tables with `user_id` columns of `Id`'s type.
pub(crate) async fn prepare<Id: TestId>(t: &TestDb) {
    let manager = SchemaManager::new(&t.db);
    CreateMfaTables::default().passkeys().down(&manager).await.expect("drop the default passkey tables");
    CreateMfaTables::default().down(&manager).await.expect("drop the default MFA tables");
    CreateMfaTables::with_user_id(Id::COLUMN).up(&manager).await.expect("create the MFA tables");
    CreateMfaTables::with_user_id(Id::COLUMN).passkeys().up(&manager).await.expect("create the passkey tables");
    AddMfaThrottleHardLock.up(&manager).await.expect("add the hard-lock columns");
    AddMfaThrottleKnownSources.up(&manager).await.expect("add the known-source columns");
}

pub(crate) fn key(id: &str, byte: u8) -> EncryptionKey {
    EncryptionKey::new(id, [byte; 32]).unwrap()
}

pub(crate) fn user<Id: TestId>(n: u32) -> MfaAccount<Id> {
    MfaAccount::new(Id::sample(n), format!("user{n}@example.com"))
}

/// Sets up a TOTP device for `user` and confirms it with a current code: a confirmed factor,
/// which backup codes back up (they count only once there is one).
pub(crate) async fn confirmed_totp<Id: TestId>(mfa: &MfaManager<Id>, user: &MfaAccount<Id>) {
    let setup = mfa.setup_totp_device(user, "phone").await.unwrap();
    let now = chrono::Utc::now();
    let code = rfc_totp_sha1(&base32_decode(&setup.secret), now.timestamp() as u64, 30, 6);
    assert!(mfa.verify_totp_code_at(user, &code, now).await.unwrap(), "the TOTP device is confirmed");
}

pub(crate) fn manager<Id: TestId>(db: sea_orm::DatabaseConnection, config: MfaConfig) -> MfaManager<Id> {
    MfaManager::new(db, config, SecretCipher::new(key("k1", 1))).unwrap()
}

pub(crate) use rail_graphql_security::audit::MemorySink;

pub(crate) use integration_tests::{base32_decode, rfc_totp_sha1};

/// Every text and binary value of every row of the MFA and audit tables: what a database dump
/// would contain.
pub(crate) async fn dump(t: &TestDb) -> Vec<u8> {
    let mut out = Vec::new();
    for table in MFA_TABLES.iter().chain(&["audit_events"]) {
        let rows =
            t.db.query_all_raw(Statement::from_string(t.db_backend(), format!("SELECT * FROM {table}")))
                .await
                .expect("dump table");
        for row in rows {
            for column in row.column_names() {
                if let Ok(Some(text)) = row.try_get::<Option<String>>("", &column) {
                    out.extend_from_slice(text.as_bytes());
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>>("", &column) {
                    out.extend_from_slice(&bytes);
                } else if let Ok(Some(json)) = row.try_get::<Option<serde_json::Value>>("", &column) {
                    out.extend_from_slice(json.to_string().as_bytes());
                }
                out.push(b'\n');
            }
        }
    }
    out
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Runs `body::<Id>` on SQLite, PostgreSQL and MariaDB with `i64` and `Uuid` user ids.
#[macro_export]
macro_rules! mfa_test {
    ($name:ident, $body:ident) => {
        mod $name {
            use integration_tests::{Backend, TestDb};
            use $crate::common::{TestId, prepare};
            async fn run<Id: TestId>(backend: Backend) {
                let Some(t) = TestDb::new(backend).await else { return };
                prepare::<Id>(&t).await;
                super::$body::<Id>(&t).await;
                t.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_i64() {
                run::<i64>(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_uuid() {
                run::<uuid::Uuid>(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_i64() {
                run::<i64>(Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_uuid() {
                run::<uuid::Uuid>(Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_i64() {
                run::<i64>(Backend::MySql).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql_uuid() {
                run::<uuid::Uuid>(Backend::MySql).await
            }
        }
    };
}
