#[rail_graphql_security::security_user]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
}

fn main() {}
