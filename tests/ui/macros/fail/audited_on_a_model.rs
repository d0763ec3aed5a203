use rail_graphql_security::audited;

#[audited]
struct Model {
    id: i32,
}

fn main() {
    let _ = Model { id: 1 }.id;
}
