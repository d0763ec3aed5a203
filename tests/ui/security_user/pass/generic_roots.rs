//! The runtime's generic roots `MfaQuery<Id>` / `MfaMutation<Id>` are async-graphql objects under
//! fixed GraphQL names, usable without `#[security_user]`; the generated aliases are both types
//! and values (as the unit structs they replace were).

pub mod user {
    use sea_orm::entity::prelude::*;

    #[rail_graphql_security::security_user]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use async_graphql::{EmptySubscription, MergedObject, ObjectType, OutputType, Schema};
use rail_graphql_security::mfa::graphql::{MfaMutation, MfaQuery};

fn assert_object<T: ObjectType>() {}

#[derive(MergedObject)]
struct Query(user::mfa::MfaQuery);

#[derive(MergedObject)]
struct Mutation(user::mfa::MfaMutation);

fn main() {
    assert_object::<MfaQuery<i32>>();
    assert_object::<MfaMutation<uuid::Uuid>>();
    assert_object::<MfaQuery<String>>();
    assert_eq!(<MfaQuery<i64> as OutputType>::type_name(), "MfaQuery");
    assert_eq!(<MfaMutation<String> as OutputType>::type_name(), "MfaMutation");

    // The generated names are aliases of the generic roots for the key type, and values too.
    let _: MfaQuery<i64> = user::mfa::MfaQuery;
    let schema = Schema::build(Query(user::mfa::MfaQuery), Mutation(user::mfa::MfaMutation), EmptySubscription).finish();
    let sdl = schema.sdl();
    for expected in [
        "mfaDevices: [MfaDevice!]!",
        "verifySms(code: String!, trustDevice: Boolean! = false, deviceName: String): VerifyPayload!",
        "verifyBackupCode(code: String!, trustDevice: Boolean! = false, deviceName: String): VerifyPayload!",
        "enum MfaDeviceType {",
        "BACKUP_CODES",
    ] {
        assert!(sdl.contains(expected), "missing `{expected}` in:\n{sdl}");
    }
}
