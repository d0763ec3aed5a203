//! The security migrations are idempotent on every backend: a database migrated by the default
//! `Migrator` (bookkeeping in `rail_security_migrations`) can list the same steps again in the
//! application's own migrator (bookkeeping in `seaql_migrations`), as `#[security_user]`'s
//! `migrations()` suggests. MySQL/MariaDB have no `CREATE INDEX IF NOT EXISTS`: this failed
//! there with "Duplicate key name" before the indexes were checked first. The dead-letter table
//! (step 5) is checked too.

use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::migration::{
    CreateMfaTables, MfaUserIdColumn, MigrationTrait, Migrator, MigratorTrait, SchemaManager,
};

/// An application's migrator listing the security migrations under the default bookkeeping
/// table.
struct AppMigrator;

impl MigratorTrait for AppMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Migrator::migrations_with_mfa(CreateMfaTables::with_user_id(MfaUserIdColumn::default()))
    }
}

async fn migrating_again_under_another_table_succeeds(t: &TestDb) {
    // `TestDb` ran `Migrator::up` already.
    AppMigrator::up(&t.db, None).await.expect("the same steps again must succeed");
    AppMigrator::up(&t.db, None).await.expect("and a no-op the next time");
    let manager = SchemaManager::new(&t.db);
    for (table, index) in [
        ("audit_events", "idx_audit_events_time_type"),
        ("audit_events", "idx_audit_events_type_time"),
        ("mfa_devices", "idx_mfa_devices_user"),
        ("revoked_tokens", "idx_revoked_tokens_expires"),
        ("revoked_tokens", "idx_revoked_tokens_revoked"),
        ("audit_dead_letters", "idx_audit_dead_letters_event"),
    ] {
        assert!(manager.has_index(table, index).await.unwrap(), "{index} missing on {:?}", t.db_backend());
    }
    // The hard-lock and known-source columns added to mfa_throttle by later steps are there once.
    for column in
        ["consecutive_failures", "hard_locked_at", "known_sources", "known_failed_attempts", "known_hard_locked_at"]
    {
        assert!(manager.has_column("mfa_throttle", column).await.unwrap(), "{column} missing on {:?}", t.db_backend());
    }
    // The time-only index was replaced by (timestamp, event_type) and is not re-created.
    assert!(!manager.has_index("audit_events", "idx_audit_events_time").await.unwrap());
}
on_every_backend!(migrations_are_idempotent, migrating_again_under_another_table_succeeds);

async fn the_hard_lock_columns_come_and_go_idempotently(t: &TestDb) {
    use rail_graphql_security::migration::AddMfaThrottleHardLock;
    let manager = SchemaManager::new(&t.db);
    let present = || async {
        let mut found = Vec::new();
        for column in ["consecutive_failures", "hard_locked_at"] {
            found.push(manager.has_column("mfa_throttle", column).await.unwrap());
        }
        found
    };
    assert_eq!(present().await, [true, true], "TestDb ran Migrator::up");
    AddMfaThrottleHardLock.down(&manager).await.expect("down");
    AddMfaThrottleHardLock.down(&manager).await.expect("down again is a no-op");
    assert_eq!(present().await, [false, false]);
    AddMfaThrottleHardLock.up(&manager).await.expect("up");
    AddMfaThrottleHardLock.up(&manager).await.expect("up again is a no-op");
    assert_eq!(present().await, [true, true]);
}
on_every_backend!(hard_lock_columns_are_idempotent, the_hard_lock_columns_come_and_go_idempotently);

async fn the_known_source_columns_come_and_go_idempotently(t: &TestDb) {
    use rail_graphql_security::migration::AddMfaThrottleKnownSources;
    const COLUMNS: [&str; 5] = [
        "known_sources",
        "known_failed_attempts",
        "known_locked_until",
        "known_consecutive_failures",
        "known_hard_locked_at",
    ];
    let manager = SchemaManager::new(&t.db);
    let present = || async {
        let mut found = Vec::new();
        for column in COLUMNS {
            found.push(manager.has_column("mfa_throttle", column).await.unwrap());
        }
        found
    };
    assert_eq!(present().await, [true; 5], "TestDb ran Migrator::up");
    AddMfaThrottleKnownSources.down(&manager).await.expect("down");
    AddMfaThrottleKnownSources.down(&manager).await.expect("down again is a no-op");
    assert_eq!(present().await, [false; 5]);
    AddMfaThrottleKnownSources.up(&manager).await.expect("up");
    AddMfaThrottleKnownSources.up(&manager).await.expect("up again is a no-op");
    assert_eq!(present().await, [true; 5]);
}
on_every_backend!(known_source_columns_are_idempotent, the_known_source_columns_come_and_go_idempotently);
