use rail_graphql_security::audited;

struct Thing;

#[audited]
impl Clone for Thing {
    fn clone(&self) -> Self {
        Thing
    }
}

fn main() {
    let _ = Thing.clone();
}
