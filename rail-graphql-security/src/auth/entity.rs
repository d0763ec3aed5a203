//! The SeaORM entity of the `revoked_tokens` table (created by the `migration` crate).

use sea_orm::entity::prelude::*;

/// One revoked token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_tokens")]
pub struct Model {
    /// The token id (`jti`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The token's subject (user id, as text).
    pub user_id: String,
    /// When the token expires anyway; the row can be purged after that.
    pub expires_at: DateTimeUtc,
    /// When it was revoked.
    pub revoked_at: DateTimeUtc,
}

/// `revoked_tokens` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
