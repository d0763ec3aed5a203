//! The example server guide's table of variables (`rail-graphql-security/guide/example_server.md`,
//! linked from the README) is checked against the key list of
//! [`demo::DemoConfig`], so the documentation cannot drift from what the server reads.

use std::collections::BTreeSet;

use rail_graphql_security::config::SecurityConfig;

/// The backticked names in the first column of the table under "| Variable |".
fn documented_variables(readme: &str) -> BTreeSet<String> {
    let table = readme.split("| Variable |").nth(1).expect("the example server guide has the variable table");
    let mut names = BTreeSet::new();
    for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_readme_documents_exactly_the_variables_the_demo_reads() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rail-graphql-security/guide/example_server.md"
    ))
    .unwrap();
    let documented = documented_variables(&readme);

    let mut read: BTreeSet<String> =
        demo::DemoConfig::leaf_keys().iter().flat_map(|k| k.env_aliases.iter().map(|v| (*v).to_owned())).collect();
    // The loader's own: the profile and the file.
    read.insert(rail_graphql_security::config::PROFILE_ENV_VAR.to_owned());
    read.insert(rail_graphql_security::config::CONFIG_FILE_ENV_VAR.to_owned());
    // Every other key through its prefixed name.
    read.insert(format!("{}__…", <demo::DemoConfig as SecurityConfig>::ENV_PREFIX));

    assert_eq!(documented, read, "guide table (left) vs variables the demo reads (right)");
}
