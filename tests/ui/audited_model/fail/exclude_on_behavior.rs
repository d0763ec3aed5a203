use rail_graphql_security::audited;
use rail_graphql_security::__private::sea_orm;
use sea_orm::entity::prelude::*;

#[audited]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub pin: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[audited(exclude(pin))]
impl ActiveModelBehavior for ActiveModel {}

fn main() {}
