//! `#[security_user(crate = "..")]` points generated code at a re-export of the runtime; the path
//! is written as it resolves from inside the generated module.
mod reexport {
    pub use rail_graphql_security as security;
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[crate::reexport::security::security_user(crate = "crate::reexport::security")]
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

fn main() {
    use reexport::security::mfa::MfaUser;
    let user = user::Model { id: 7, email: "alice@example.com".into() };
    assert_eq!(user.mfa_user_id(), 7);
    assert_eq!(user.mfa_account_name(), "alice@example.com");
    let _ = user::mfa::migration();
}
