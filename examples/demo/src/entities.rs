//! The demo's own tables: `users` (the accounts that log in) and `notes` (what they write).
//! Created at start before the security tables (see [`crate::DemoMigrator`]).

/// `users`: an account with an Argon2id password hash and a role.
///
/// `#[security_user]` generates [`user::mfa`]: the MFA entities with foreign keys to `users`,
/// their migrations, and the `MfaQuery` / `MfaMutation` roots merged into the demo's schema.
pub mod user {
    use sea_orm::entity::prelude::*;

    /// One account.
    #[rail_graphql_security::security_user(account_name = "username")]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// The primary key (the MFA tables' `user_id`).
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The login name, unique.
        #[sea_orm(unique)]
        pub username: String,
        /// The Argon2id hash in PHC string form; never the password.
        pub password_hash: String,
        /// `admin` or `user`.
        pub role: String,
    }

    /// A user writes notes.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The user's notes.
        #[sea_orm(has_many = "super::note::Entity")]
        Notes,
    }

    impl Related<super::note::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Notes.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// `notes`: short texts owned by a user.
///
/// `#[audited]` makes every insert, update and delete through the entity write a
/// `data_created` / `data_updated` / `data_deleted` audit event with the changed columns (the
/// note's `body` is masked: private text stays out of the audit log).
pub mod note {
    use rail_graphql_security::audited;
    use sea_orm::entity::prelude::*;

    /// One note.
    #[audited]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        /// The primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The author.
        pub owner_id: i64,
        /// The title.
        pub title: String,
        /// The text (masked in audit events).
        #[audited(secret)]
        pub body: String,
        /// When it was written.
        pub created_at: DateTimeUtc,
    }

    /// A note belongs to a user.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The author.
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::OwnerId",
            to = "super::user::Column::Id",
            on_delete = "Cascade"
        )]
        Owner,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Owner.def()
        }
    }

    #[audited]
    impl ActiveModelBehavior for ActiveModel {}
}
