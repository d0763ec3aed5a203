// Without `#[sea_orm(primary_key)]` (and here without the table name either) the attribute says
// what to add, before SeaORM's derive would.
#[rail_graphql_security::security_user]
pub struct Model {
    pub id: i64,
    pub username: String,
}

fn main() {}
