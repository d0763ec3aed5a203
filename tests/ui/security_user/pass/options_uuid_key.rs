//! Every option, a `Uuid` key under another field and column name, and a model that names its
//! types through paths: the generated module is where `module` says and uses `account_name`.

pub mod account {
    use sea_orm::entity::prelude::*;

    #[rail_graphql_security::security_user(module = "second_factor", on_delete = "restrict", account_name = "email")]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false, column_name = "account_uuid")]
        pub account_id: sea_orm::prelude::Uuid,
        pub username: String,
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use rail_graphql_security::mfa::MfaUser;
use sea_orm::{EntityTrait, RelationTrait};

fn main() {
    let id = sea_orm::prelude::Uuid::from_u128(7);
    let user = account::Model { account_id: id, username: "alice".into(), email: "alice@example.com".into() };
    assert_eq!(user.mfa_user_id(), id);
    assert_eq!(user.mfa_account_name(), "alice@example.com");
    let _: account::second_factor::UserId = id;
    let _ = account::second_factor::trusted_device::Relation::User.def();
    let _ = account::second_factor::mfa_backup_code::Entity::find();
    let _ = account::second_factor::migration();
    let _: account::second_factor::MfaQuery = Default::default();
}
