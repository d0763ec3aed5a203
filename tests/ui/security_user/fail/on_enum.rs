#[rail_graphql_security::security_user]
pub enum Role {
    Admin,
    User,
}

fn main() {}
