//! Helpers for the code `#[derive(SecurityConfig)]` generates, reached by it as
//! `rail_graphql_security::__private::config`; not a public API.

use super::{
    Checklist, ConfigError, ConfigValue, Input, KeyCollector, LoadContext, Profile, Secret, SecurityConfig, Validator,
};

/// A field type `#[security(secret, generate)]` can fill.
#[diagnostic::on_unimplemented(
    message = "`#[security(generate)]` needs a `Secret` or `Option<Secret>` field, found `{Self}`"
)]
pub trait GenerateSecret {
    /// Replaces the value with a fresh random one.
    fn generate(&mut self);
}

/// Length of generated secrets: 64 alphanumerics, about 380 bits.
pub const GENERATED_SECRET_LEN: usize = 64;

impl GenerateSecret for Secret {
    fn generate(&mut self) {
        *self = Secret::generate(GENERATED_SECRET_LEN);
    }
}
impl GenerateSecret for Option<Secret> {
    fn generate(&mut self) {
        *self = Some(Secret::generate(GENERATED_SECRET_LEN));
    }
}

/// Asserts at compile time that a `#[security(secret)]` field holds a secret type.
#[diagnostic::on_unimplemented(
    message = "a `#[security(secret)]` field must be `Secret` or hold one (`Option<Secret>`, `Vec<Secret>`, ...), found `{Self}`",
    note = "change the field's type to `rail_graphql_security::config::Secret` so it is never printed"
)]
pub trait IsSecret {}
impl IsSecret for Secret {}
impl<T: IsSecret> IsSecret for Option<T> {}
impl<T: IsSecret> IsSecret for Vec<T> {}
impl<T: IsSecret> IsSecret for std::collections::BTreeMap<String, T> {}

/// Compile-time check used by generated code.
pub fn assert_secret<T: IsSecret>() {}

/// What generated code does with a leaf field. Every use goes through [`leaf`], so a type
/// that is not a [`ConfigValue`] gives one error, not one per generated method.
#[allow(missing_debug_implementations, reason = "function pointers only")]
pub struct LeafOps<T> {
    /// Sets it from a layer.
    pub set: fn(&mut LoadContext, &mut T, Input<'_>) -> Result<(), ConfigError>,
    /// Redacted JSON.
    pub json: fn(&T) -> serde_json::Value,
    /// Writes it to a TOML table.
    pub write: fn(&mut toml_edit::Table, &str, &T, &str),
    /// What it takes, for the key list.
    pub expected: fn() -> String,
    /// Whether it is a secret.
    pub secret: bool,
}

/// The operations of a leaf field of type `T`.
pub fn leaf<T: ConfigValue>() -> LeafOps<T> {
    LeafOps {
        set: |cx, slot, input| cx.leaf(slot, input),
        json: T::to_json_redacted,
        write: write_leaf::<T>,
        expected: T::expected,
        secret: T::SECRET,
    }
}

/// What generated code does with a nested section (see [`LeafOps`]).
#[allow(missing_debug_implementations, reason = "function pointers only")]
pub struct SectionOps<T> {
    /// The profile's defaults.
    pub defaults: fn(&Profile) -> T,
    /// Sets it from a layer.
    pub set: fn(&mut LoadContext, &mut T, Input<'_>) -> Result<(), ConfigError>,
    /// Validates it.
    pub validate: fn(&T, &mut Validator<'_>),
    /// Runs its checks.
    pub check: fn(&T, &mut Checklist),
    /// Redacted JSON.
    pub json: fn(&T) -> serde_json::Value,
    /// Writes it to a TOML table.
    pub write: fn(&mut toml_edit::Table, &str, &T, &str),
    /// Generates its secrets.
    pub generate: fn(&mut T),
    /// Lists its keys.
    pub keys: fn(&mut KeyCollector),
}

/// The operations of a nested section of type `T`.
pub fn section<T: SecurityConfig>() -> SectionOps<T> {
    SectionOps {
        defaults: T::defaults,
        set: |cx, slot, input| cx.section(slot, input),
        validate: T::validate,
        check: T::check,
        json: T::to_json_redacted,
        write: write_section::<T>,
        generate: T::generate_secrets,
        keys: T::collect_keys,
    }
}

/// Writes one leaf value with its doc comment.
/// An unset value is written as a commented-out line, so the file still lists every key.
pub fn write_leaf<V: ConfigValue>(table: &mut toml_edit::Table, key: &str, value: &V, doc: &str) {
    if let Some(value) = value.to_toml() {
        table.insert(key, toml_edit::Item::Value(value));
        if let Some(mut k) = table.key_mut(key) {
            k.leaf_decor_mut().set_prefix(comment(doc, ""));
        }
        return;
    }
    let placeholder = format!("\n{}# {key} = <{}>", comment(doc, ""), V::expected());
    // Hang the comment after the previous value on its line (or after the table header).
    let previous = table.iter_mut().last().and_then(|(_, item)| item.as_value_mut().map(|v| v.decor_mut().clone()));
    match previous {
        Some(decor) => {
            let suffix = format!("{}{placeholder}", decor.suffix().and_then(|s| s.as_str()).unwrap_or(""));
            if let Some((_, item)) = table.iter_mut().last()
                && let Some(value) = item.as_value_mut()
            {
                value.decor_mut().set_suffix(suffix);
            }
        }
        None => {
            let suffix = format!("{}{placeholder}", table.decor().suffix().and_then(|s| s.as_str()).unwrap_or(""));
            table.decor_mut().set_suffix(suffix);
        }
    }
}

/// Writes a nested section with its doc comment.
pub fn write_section<T: SecurityConfig>(table: &mut toml_edit::Table, key: &str, value: &T, doc: &str) {
    let mut section = toml_edit::Table::new();
    value.write_toml(&mut section);
    section.decor_mut().set_prefix(comment(doc, "\n"));
    table.insert(key, toml_edit::Item::Table(section));
}

fn comment(doc: &str, lead: &str) -> String {
    let mut out = lead.to_owned();
    for line in doc.lines() {
        out.push_str("# ");
        out.push_str(line.trim());
        out.push('\n');
    }
    out
}
