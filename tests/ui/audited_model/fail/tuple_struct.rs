use rail_graphql_security::audited;

#[audited]
struct Tuple(i32);

fn main() {
    let _ = Tuple(1);
}
