//! The generated API compiles with only rail-graphql-security, sea-orm and async-graphql, merges
//! into the application's roots, and has the documented GraphQL names.

pub mod user {
    use sea_orm::entity::prelude::*;

    #[rail_graphql_security::security_user]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub username: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use async_graphql::{EmptySubscription, MergedObject, Object, Schema};

#[derive(Default)]
struct AppQuery;

#[Object]
impl AppQuery {
    async fn hello(&self) -> &str {
        "hi"
    }
}

#[derive(MergedObject, Default)]
struct Query(AppQuery, user::mfa::MfaQuery);

#[derive(MergedObject, Default)]
struct Mutation(user::mfa::MfaMutation);

fn main() {
    let schema = Schema::build(Query::default(), Mutation::default(), EmptySubscription).finish();
    let sdl = schema.sdl();
    for expected in [
        "mfaDevices: [MfaDevice!]!",
        "trustedDevices: [TrustedDevice!]!",
        "mfaStatus: MfaStatus!",
        "setupTotp(deviceName: String!): SetupTotpPayload!",
        "verifyTotp(code: String!, trustDevice: Boolean! = false, deviceName: String): VerifyPayload!",
        "setupSms(phoneNumber: String!, deviceName: String!): SetupSmsPayload!",
        "sendSmsCode: MfaActionPayload!",
        "generateBackupCodes: BackupCodesPayload!",
        "revokeTrustedDevice(id: ID!): MfaActionPayload!",
        "removeMfaDevice(id: ID!): MfaActionPayload!",
        "disableMfa: MfaActionPayload!",
        "isPrimary: Boolean!",
        "lastUsed: String",
    ] {
        assert!(sdl.contains(expected), "missing `{expected}` in:\n{sdl}");
    }
    assert!(!sdl.contains("secretKey: String!\n\tisActive"), "MfaDevice has no secret");
    // The entities: a relation from the user to its devices, and the key type.
    let _: user::mfa::UserId = 7_i32;
    let _ = <user::Entity as sea_orm::Related<user::mfa::mfa_device::Entity>>::to();
    let user = user::Model { id: 7, username: "alice".into() };
    assert_eq!(rail_graphql_security::mfa::MfaUser::mfa_user_id(&user), 7);
    assert_eq!(rail_graphql_security::mfa::MfaUser::mfa_account_name(&user), "alice");
    let _: Vec<Box<dyn rail_graphql_security::migration::MigrationTrait>> = user::mfa::migrations();
}
