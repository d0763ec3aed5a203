use rail_graphql_security::audited;

#[audited]
enum Level {
    Low,
}

fn main() {
    let _ = Level::Low;
}
