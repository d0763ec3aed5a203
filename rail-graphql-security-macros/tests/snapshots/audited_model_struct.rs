#[derive(Clone, Debug, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub owner: String,
    #[sea_orm(column_name = "pin_code")]
    pub pin: String,
    pub api_key: String,
}
impl ::rail_graphql_security::audit::model::AuditedModel for Model {
    const MASKED_COLUMNS: &'static [&'static str] = &["api_key", "pin_code"];
}
