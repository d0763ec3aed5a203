//! `#[security_user]` end to end: real GraphQL requests against schemas built from the generated
//! `MfaQuery` / `MfaMutation`, for users keyed by `i32`, `i64`, `Uuid` and `String`, with the
//! generated migration (foreign keys to the user table) on SQLite, PostgreSQL and MariaDB.

// The entity modules stand for a user's crate: public items without docs, like SeaORM's own.
#![allow(missing_docs, missing_debug_implementations)]
#[path = "security_user/flow.rs"]
mod flow;

use flow::KeyCase;

macro_rules! key_case {
    ($module:ident, $ty:ty, $column:ident, $on_delete:literal, $sample:expr) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[rail_graphql_security::security_user(on_delete = $on_delete)]
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = "users")]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: $ty,
                pub username: String,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}

            pub struct Case;

            impl crate::KeyCase for Case {
                type Id = $ty;
                type Query = mfa::MfaQuery;
                type Mutation = mfa::MfaMutation;
                type User = Model;
                const COLUMN: rail_graphql_security::migration::MfaUserIdColumn =
                    rail_graphql_security::migration::MfaUserIdColumn::$column;
                fn sample(n: u32) -> $ty {
                    ($sample)(n)
                }
                fn migrations() -> Vec<Box<dyn rail_graphql_security::migration::MigrationTrait>> {
                    mfa::migrations()
                }
                async fn insert(db: &sea_orm::DatabaseConnection, id: $ty, name: &str) -> Model {
                    use sea_orm::{ActiveModelTrait, Set};
                    ActiveModel { id: Set(id), username: Set(name.to_owned()) }.insert(db).await.expect("insert user")
                }
                async fn passkeys(db: &sea_orm::DatabaseConnection, user: &Model) -> Vec<($ty, String)> {
                    use sea_orm::ModelTrait;
                    user.find_related(mfa::mfa_passkey::Entity)
                        .all(db)
                        .await
                        .expect("related passkeys")
                        .into_iter()
                        .map(|p| (p.user_id, p.name))
                        .collect()
                }
                async fn related_devices(db: &sea_orm::DatabaseConnection, user: &Model) -> usize {
                    use sea_orm::ModelTrait;
                    user.find_related(mfa::mfa_device::Entity).all(db).await.expect("related devices").len()
                }
                async fn entity_rows(db: &sea_orm::DatabaseConnection) -> crate::flow::EntityRows<$ty> {
                    use sea_orm::EntityTrait;
                    let devices = mfa::mfa_device::Entity::find().all(db).await.expect("read mfa_devices");
                    crate::flow::EntityRows {
                        devices: devices
                            .iter()
                            .map(|d| {
                                (d.id.clone(), d.user_id.clone(), d.confirmed, d.secret_key.clone(), format!("{d:?}"))
                            })
                            .collect(),
                        backup_codes: mfa::mfa_backup_code::Entity::find().all(db).await.expect("read codes").len(),
                        trusted: mfa::trusted_device::Entity::find()
                            .all(db)
                            .await
                            .expect("read trusted devices")
                            .into_iter()
                            .map(|t| (t.user_id, t.token_hash))
                            .collect(),
                    }
                }
                async fn delete(db: &sea_orm::DatabaseConnection, id: $ty) -> Result<u64, sea_orm::DbErr> {
                    Ok(Entity::delete_by_id(id).exec(db).await?.rows_affected)
                }
            }
        }
    };
}

key_case!(key_i32, i32, Integer, "cascade", |n: u32| 1_000 + n as i32);
key_case!(key_i64, i64, BigInteger, "cascade", |n: u32| 9_000_000_000 + i64::from(n));
key_case!(key_uuid, Uuid, Uuid, "cascade", |n: u32| Uuid::from_u128(0xabcd_0000_4000_8000 + u128::from(n)));
key_case!(key_string, String, String, "cascade", |n: u32| format!("user-{n}"));
key_case!(key_restrict, i64, BigInteger, "restrict", |n: u32| 7_000 + i64::from(n));

use integration_tests::Backend;

/// One test per line: `name: key case, backend;`, each running `flow::$flow`.
macro_rules! flow_tests {
    ($flow:ident { $($name:ident: $case:ty, $backend:ident;)* }) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            flow::$flow::<$case>(Backend::$backend).await;
        }
    )*};
}

flow_tests! { full_flow {
    full_flow_i32_key_sqlite: key_i32::Case, Sqlite;
    full_flow_i64_key_sqlite: key_i64::Case, Sqlite;
    full_flow_uuid_key_sqlite: key_uuid::Case, Sqlite;
    full_flow_string_key_sqlite: key_string::Case, Sqlite;
    full_flow_i32_key_postgres: key_i32::Case, Postgres;
    full_flow_uuid_key_postgres: key_uuid::Case, Postgres;
    full_flow_string_key_postgres: key_string::Case, Postgres;
}}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_cascades_to_mfa_rows_sqlite() {
    flow::delete_user_cascades::<key_i64::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_cascades_to_mfa_rows_postgres() {
    flow::delete_user_cascades::<key_uuid::Case>(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_restrict_refuses_deleting_a_user_with_mfa_sqlite() {
    flow::delete_user_restricted::<key_restrict::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_restrict_refuses_deleting_a_user_with_mfa_postgres() {
    flow::delete_user_restricted::<key_restrict::Case>(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_session_cannot_change_enabled_factors() {
    flow::step_up_required::<key_i64::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_cannot_touch_my_devices_and_bad_sessions_are_refused() {
    flow::isolation_and_authentication::<key_string::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_i64_key_mariadb() {
    flow::full_flow::<key_i64::Case>(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_uuid_key_mariadb() {
    flow::full_flow::<key_uuid::Case>(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_cascades_to_mfa_rows_mariadb() {
    flow::delete_user_cascades::<key_string::Case>(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_token_hook_returns_a_token_with_the_mfa_level() {
    flow::issue_token_hook::<key_uuid::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_factor_hook_outlives_a_dropped_request() {
    flow::first_factor_hook_outlives_a_dropped_request::<key_uuid::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_flow_through_the_generated_api() {
    flow::sms_flow::<key_i32::Case>(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_locks_out_with_retry_after() {
    flow::guessing_locks_out::<key_i64::Case>(Backend::Sqlite).await;
}

flow_tests! { passkeys_in_the_generated_tables {
    passkeys_i32_key_sqlite: key_i32::Case, Sqlite;
    passkeys_i64_key_postgres: key_i64::Case, Postgres;
    passkeys_uuid_key_mariadb: key_uuid::Case, MySql;
    passkeys_string_key_postgres: key_string::Case, Postgres;
    passkeys_uuid_key_sqlite: key_uuid::Case, Sqlite;
}}
