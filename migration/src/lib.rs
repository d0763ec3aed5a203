//! SeaORM migrations for the tables of `rail-graphql-security`.
//!
//! List [`Migrator`]'s migrations in your own `MigratorTrait` impl, or run them directly:
//!
//! ```no_run
//! # async fn run(db: &sea_orm_migration::sea_orm::DatabaseConnection) -> Result<(), sea_orm_migration::DbErr> {
//! use rail_graphql_security_migration::{Migrator, MigratorTrait};
//! Migrator::up(db, None).await?;
//! # Ok(()) }
//! ```
//!
//! The same migrations run on SQLite, PostgreSQL and MySQL/MariaDB.

pub use sea_orm_migration::prelude::*;

pub mod audit_rollup;
mod m20261128_000001_create_audit_events;
mod m20261128_000002_create_mfa_tables;
mod m20261128_000003_create_revoked_tokens;
mod m20261129_000004_audit_time_type_index;
mod m20261203_000005_create_audit_dead_letters;
mod m20261203_000006_mfa_throttle_hard_lock;
mod m20261204_000007_create_audit_rollup_hourly;
mod m20261204_000008_audit_chain;
mod m20261205_000009_audit_chain_binary;
mod m20261205_000010_revoked_tokens_revoked_at_index;
mod m20261206_000011_create_mfa_passkeys;
mod m20261206_000012_audit_rollup_method;
mod m20261206_000013_audit_rollup_heavy_index;
mod m20261206_000014_audit_checkpoint_witnesses;
mod m20261207_000015_mfa_throttle_known_sources;
pub mod schema;

pub use m20261128_000002_create_mfa_tables::{CreateMfaTables, MfaUserIdColumn, OnUserDelete};
pub use m20261203_000006_mfa_throttle_hard_lock::AddMfaThrottleHardLock;
pub use m20261206_000011_create_mfa_passkeys::CreateMfaPasskeyTables;
pub use m20261207_000015_mfa_throttle_known_sources::AddMfaThrottleKnownSources;

/// The security tables' migrations, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Migrator::migrations_with_mfa(CreateMfaTables::default())
    }

    fn migration_table_name() -> DynIden {
        // Our own bookkeeping table, so a host app's `seaql_migrations` is left alone.
        Alias::new("rail_security_migrations").into_iden()
    }
}

impl Migrator {
    /// [`Migrator::migrations`] with the MFA tables' `user_id` columns of type `user_id` (the
    /// default is `BIGINT`): list these in your own `MigratorTrait` impl when your users are keyed
    /// by `i32`, a UUID or a string.
    pub fn migrations_with_mfa_user_id(user_id: MfaUserIdColumn) -> Vec<Box<dyn MigrationTrait>> {
        Migrator::migrations_with_mfa(CreateMfaTables::with_user_id(user_id))
    }

    /// The names of the steps that create or change the MFA tables (devices, backup codes,
    /// trusted devices, throttle, passkeys), whose `user_id` type and foreign key belong to the
    /// application: a migrator that leaves those tables to the application's own migrations
    /// (the stock `rail-security setup`) filters these out.
    pub fn mfa_migration_names() -> [String; 4] {
        let tables = CreateMfaTables::default();
        [
            tables.name().to_owned(),
            tables.passkeys().name().to_owned(),
            AddMfaThrottleHardLock.name().to_owned(),
            AddMfaThrottleKnownSources.name().to_owned(),
        ]
    }

    /// [`Migrator::migrations`] with the MFA tables created by `mfa_tables` (for example with
    /// foreign keys to your user table, see [`CreateMfaTables::references_user`]).
    pub fn migrations_with_mfa(mfa_tables: CreateMfaTables) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_audit_events::Migration),
            Box::new(mfa_tables),
            Box::new(m20261128_000003_create_revoked_tokens::Migration),
            Box::new(m20261129_000004_audit_time_type_index::Migration),
            Box::new(m20261203_000005_create_audit_dead_letters::Migration),
            Box::new(AddMfaThrottleHardLock),
            Box::new(m20261204_000007_create_audit_rollup_hourly::Migration),
            Box::new(m20261204_000008_audit_chain::Migration),
            Box::new(m20261205_000009_audit_chain_binary::Migration),
            Box::new(m20261205_000010_revoked_tokens_revoked_at_index::Migration),
            Box::new(mfa_tables.passkeys()),
            Box::new(m20261206_000012_audit_rollup_method::Migration),
            Box::new(m20261206_000013_audit_rollup_heavy_index::Migration),
            Box::new(m20261206_000014_audit_checkpoint_witnesses::Migration),
            Box::new(AddMfaThrottleKnownSources),
        ]
    }
}

/// Creates `index` (which has a name) on `table` unless an index of that name exists there.
/// MySQL/MariaDB have no `CREATE INDEX IF NOT EXISTS` (sea-query drops the clause), and these
/// migrations can run twice on one database: once under [`Migrator`]'s bookkeeping table, again
/// when an application lists them in its own migrator (as `#[security_user]`'s `migrations()`
/// suggests). Every table is `IF NOT EXISTS`; this makes the indexes so too.
pub(crate) async fn create_index_once<T: Iden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    mut index: IndexCreateStatement,
) -> Result<(), DbErr> {
    let name = index.get_index_spec().get_name().unwrap_or_default().to_owned();
    if !name.is_empty() && manager.has_index(table.to_string(), &name).await? {
        return Ok(());
    }
    manager.create_index(index.table(table).if_not_exists().to_owned()).await
}

/// Drops the index `name` of `table` if it exists (see [`create_index_once`] for why a step may
/// find the schema already changed).
pub(crate) async fn drop_index_if_exists<T: Iden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
) -> Result<(), DbErr> {
    if !manager.has_index(table.to_string(), name).await? {
        return Ok(());
    }
    manager.drop_index(Index::drop().name(name).table(table).to_owned()).await
}
