use rail_graphql_security::audited;

#[audited]
enum Colour {
    Red,
}

struct Thing;

#[audited]
impl Clone for Thing {
    fn clone(&self) -> Self {
        Thing
    }
}

#[audited(secret)]
struct Tuple(i32);

fn main() {}
