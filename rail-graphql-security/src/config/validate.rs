//! Validation of loaded values: ranges, non-empty, https-only in production, custom functions.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeBounds;
use std::path::PathBuf;

use super::error::{ConfigError, Source};
use super::profile::Profile;
use super::secret::Secret;

/// Collects validation errors; generated `validate` methods call it.
#[derive(Debug)]
pub struct Validator<'a> {
    profile: &'a Profile,
    path: Vec<String>,
    origins: &'a BTreeMap<String, Source>,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(
        profile: &'a Profile,
        origins: &'a BTreeMap<String, Source>,
        errors: &'a mut Vec<ConfigError>,
    ) -> Self {
        Validator { profile, path: Vec::new(), origins, errors }
    }

    /// The profile being validated.
    pub fn profile(&self) -> &Profile {
        self.profile
    }

    /// Runs `f` with `key` appended to the current key path.
    pub fn with_key(&mut self, key: &str, f: impl FnOnce(&mut Self)) {
        self.path.push(key.to_owned());
        f(self);
        self.path.pop();
    }

    /// Records that the value at the current key is invalid; `message` completes "`key` ...".
    pub fn error(&mut self, message: impl fmt::Display) {
        // A container-level rule of the outermost config has no key of its own.
        let key = if self.path.is_empty() { "config".to_owned() } else { self.path.join(".") };
        // A rule on a whole section names a value set inside it, if any was.
        let prefix = format!("{key}.");
        let source = self
            .origins
            .get(&key)
            .or_else(|| self.origins.iter().find(|(k, _)| k.starts_with(&prefix) || key == "config").map(|(_, s)| s))
            .cloned()
            .unwrap_or_else(|| Source::Default(self.profile.clone()));
        self.errors.push(ConfigError::Invalid { origin: source, key, message: message.to_string() });
    }

    /// `#[security(range = ..)]`: the value (if set) lies in `range`.
    pub fn range<V: Ranged>(&mut self, value: &V, range: impl RangeBounds<V::Number> + fmt::Debug) {
        if let Some(n) = value.number()
            && !range.contains(n)
        {
            self.error(format_args!("is {n}, which is outside {range:?}: choose a value in that range"));
        }
    }

    /// `#[security(non_empty)]`: the value is set and not empty.
    pub fn non_empty<V: Emptiable>(&mut self, value: &V) {
        if value.is_empty_value() {
            self.error("must not be empty: set it in the config file or the environment");
        }
    }

    /// `#[security(https_in_production)]`: in production every URL uses `https://`.
    pub fn https_in_production<V: Urls>(&mut self, value: &V) {
        if self.profile.is_production() && value.urls().iter().any(|url| !url.starts_with("https://")) {
            self.error("must use https:// in production (plain http exposes what is sent)");
        }
    }

    /// `#[security(validate = path)]`: a custom function returning `Result<(), impl Display>`.
    pub fn custom<E: fmt::Display>(&mut self, result: Result<(), E>) {
        if let Err(error) = result {
            self.error(error);
        }
    }
}

/// A number, or an optional number, that `#[security(range = ..)]` can check.
#[diagnostic::on_unimplemented(
    message = "`#[security(range = ..)]` needs a number, found `{Self}`",
    note = "remove `range` or use it on an integer or float field (or an Option of one)"
)]
pub trait Ranged {
    /// The number type.
    type Number: PartialOrd + fmt::Display;
    /// The number, if set.
    fn number(&self) -> Option<&Self::Number>;
}

macro_rules! ranged {
    ($($ty:ty),*) => {$(
        impl Ranged for $ty {
            type Number = $ty;
            fn number(&self) -> Option<&$ty> { Some(self) }
        }
    )*};
}
ranged!(u8, u16, u32, u64, usize, i8, i16, i32, i64, f32, f64);

impl<T: Ranged> Ranged for Option<T> {
    type Number = T::Number;
    fn number(&self) -> Option<&T::Number> {
        self.as_ref().and_then(T::number)
    }
}

/// A value `#[security(non_empty)]` can check.
#[diagnostic::on_unimplemented(
    message = "`#[security(non_empty)]` needs a string, path, secret, list or table, found `{Self}`",
    note = "remove `non_empty` from this field"
)]
pub trait Emptiable {
    /// Whether the value is unset or empty.
    fn is_empty_value(&self) -> bool;
}

impl Emptiable for String {
    fn is_empty_value(&self) -> bool {
        self.trim().is_empty()
    }
}
impl Emptiable for PathBuf {
    fn is_empty_value(&self) -> bool {
        self.as_os_str().is_empty()
    }
}
impl Emptiable for Secret {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<T> Emptiable for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<K, V> Emptiable for BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<T: Emptiable> Emptiable for Option<T> {
    fn is_empty_value(&self) -> bool {
        self.as_ref().is_none_or(T::is_empty_value)
    }
}

/// URL values `#[security(https_in_production)]` can check.
#[diagnostic::on_unimplemented(
    message = "`#[security(https_in_production)]` needs a URL string (or a list or Option of them), found `{Self}`",
    note = "remove `https_in_production` from this field"
)]
pub trait Urls {
    /// The URLs.
    fn urls(&self) -> Vec<&str>;
}

impl Urls for String {
    fn urls(&self) -> Vec<&str> {
        vec![self.as_str()]
    }
}
impl Urls for Secret {
    fn urls(&self) -> Vec<&str> {
        vec![self.expose()]
    }
}
impl<T: Urls> Urls for Option<T> {
    fn urls(&self) -> Vec<&str> {
        self.as_ref().map(T::urls).unwrap_or_default()
    }
}
impl<T: Urls> Urls for Vec<T> {
    fn urls(&self) -> Vec<&str> {
        self.iter().flat_map(T::urls).collect()
    }
}
