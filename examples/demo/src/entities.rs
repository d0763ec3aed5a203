//! The demo's own tables: `users` (the accounts that log in) and `notes` (what they write).
//! Created at start next to the security tables (see [`crate::migrate`]).

/// `users`: an account with an Argon2id password hash and a role.
pub mod user {
    use sea_orm::entity::prelude::*;

    /// One account.
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
pub mod note {
    use sea_orm::entity::prelude::*;

    /// One note.
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
        /// The text.
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

    impl ActiveModelBehavior for ActiveModel {}
}
