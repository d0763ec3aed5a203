//! `#[audited(crate = "..")]` on the model and on its behaviour impl points generated code at a
//! re-export of the runtime.
mod reexport {
    pub use rail_graphql_security as security;
}

mod note {
    use crate::reexport::security::__private::sea_orm;
    use sea_orm::entity::prelude::*;

    #[crate::reexport::security::audited(exclude(pin), crate = "crate::reexport::security")]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub pin: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[crate::reexport::security::audited(crate = "crate::reexport::security")]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {
    use reexport::security::audit::model::AuditedModel;
    assert_eq!(<note::Model as AuditedModel>::MASKED_COLUMNS, ["pin"]);
}
