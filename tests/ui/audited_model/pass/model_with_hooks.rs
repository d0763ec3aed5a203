use rail_graphql_security::audited;
use rail_graphql_security::__private::sea_orm;
use sea_orm::entity::prelude::*;

#[audited(exclude(pin))]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub pin: String,
    #[audited(secret)]
    pub token: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audited]
#[rail_graphql_security::__private::async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn after_save<C>(model: Model, _db: &C, insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        if insert && model.pin.is_empty() {
            return Err(DbErr::Custom("pin required".into()));
        }
        Ok(model)
    }

    async fn after_delete<C>(self, _db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        Ok(self)
    }
}

fn main() {
    use rail_graphql_security::audit::model::AuditedModel;
    assert_eq!(<Model as AuditedModel>::MASKED_COLUMNS, ["pin", "token"]);
}
