//! The types a config field can have, and how each is read from TOML and from an environment
//! variable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml_edit::{Item, Value};

use super::secret::{REDACTED, Secret};

/// A type that can be a config value (a leaf; sections are structs deriving
/// [`SecurityConfig`](super::SecurityConfig) and marked `#[security(nested)]`).
///
/// Implemented for `bool`, the integer types, `f32`/`f64`, `String`, `PathBuf`, [`Secret`],
/// `Option<T>`, `Vec<T>` and `BTreeMap<String, T>`. Implement it for your own enums to use them
/// in a config.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a security config value",
    label = "unsupported config field type",
    note = "use bool, an integer, f64, String, PathBuf, Secret, Option<T>, Vec<T>, BTreeMap<String, T>, \
            a type implementing `ConfigValue`, or mark a config struct `#[security(nested)]`"
)]
pub trait ConfigValue: Sized {
    /// Whether the value is secret: a rejected environment value is then never quoted.
    const SECRET: bool = false;

    /// What the value looks like, for error messages: "an integer between 0 and 255".
    fn expected() -> String;

    /// Reads the value from a TOML value; `None` when it has the wrong type or range.
    fn from_toml(value: &Value) -> Option<Self>;

    /// Reads the value from an environment variable. The default parses the text as a TOML
    /// value, so `[1, 2]` and `{ a = "b" }` work for lists and maps.
    fn from_env(text: &str) -> Option<Self> {
        text.parse::<Value>().ok().and_then(|value| Self::from_toml(&value))
    }

    /// Whether the value is a table whose entries env vars can set one by one.
    const HAS_ENTRIES: bool = false;

    /// Sets one entry of a table value from `PREFIX__..__KEY__ENTRY` (the entry name arrives
    /// lowercased); `None` when the type has no entries, `Some(false)` when `text` does not parse.
    fn set_env_entry(&mut self, entry: &str, text: &str) -> Option<bool> {
        let _ = (entry, text);
        None
    }

    /// The value as TOML, for writing a config file (secrets included: write such a file with
    /// restricted permissions); `None` when there is nothing to write (an unset `Option`).
    fn to_toml(&self) -> Option<Value>;

    /// The value as JSON for display, with secrets replaced by `[REDACTED]`.
    fn to_json_redacted(&self) -> serde_json::Value;
}

/// How a found value is described in an error: strings are never quoted, and no value of a
/// `secret` key is (an all-digit secret parses as an integer).
pub(crate) fn describe_found(value: &Value, secret: bool) -> String {
    match value {
        Value::String(_) => "a string".to_owned(),
        Value::Integer(_) if secret => "an integer".to_owned(),
        Value::Float(_) if secret => "a number".to_owned(),
        Value::Integer(i) => format!("the integer {}", i.value()),
        Value::Float(f) => format!("the number {}", f.value()),
        Value::Boolean(b) => format!("`{}`", b.value()),
        Value::Datetime(_) => "a date-time".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::InlineTable(_) => "a table".to_owned(),
    }
}

/// How an item that is not a plain value (a `[section]`) is described in an error.
pub(crate) fn describe_item(item: &Item) -> String {
    match item {
        Item::Value(value) => describe_found(value, false),
        Item::Table(_) => "a table".to_owned(),
        Item::ArrayOfTables(_) => "an array of tables".to_owned(),
        Item::None => "nothing".to_owned(),
    }
}

impl ConfigValue for bool {
    fn expected() -> String {
        "a boolean (true or false)".to_owned()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_bool()
    }
    fn from_env(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    fn to_toml(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::Bool(*self)
    }
}

macro_rules! integer_value {
    ($($ty:ty),*) => {$(
        impl ConfigValue for $ty {
            fn expected() -> String {
                format!("an integer between {} and {}", <$ty>::MIN, <$ty>::MAX)
            }
            fn from_toml(value: &Value) -> Option<Self> {
                value.as_integer().and_then(|i| <$ty>::try_from(i).ok())
            }
            fn from_env(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn to_toml(&self) -> Option<Value> {
                i64::try_from(*self).ok().map(Value::from)
            }
            fn to_json_redacted(&self) -> serde_json::Value {
                serde_json::Value::from(*self)
            }
        }
    )*};
}

integer_value!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

macro_rules! float_value {
    ($($ty:ty),*) => {$(
        impl ConfigValue for $ty {
            fn expected() -> String {
                "a number".to_owned()
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "config-sized numbers")]
            fn from_toml(value: &Value) -> Option<Self> {
                value.as_float().or_else(|| value.as_integer().map(|i| i as f64)).map(|f| f as $ty)
            }
            fn from_env(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn to_toml(&self) -> Option<Value> {
                Some(Value::from(f64::from(*self)))
            }
            fn to_json_redacted(&self) -> serde_json::Value {
                serde_json::Value::from(f64::from(*self))
            }
        }
    )*};
}

float_value!(f32, f64);

impl ConfigValue for String {
    fn expected() -> String {
        "a string".to_owned()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
    fn from_env(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn to_toml(&self) -> Option<Value> {
        Some(Value::from(self.as_str()))
    }
    /// A URL's password and query string (which may carry an api key) are masked; any other
    /// text is shown as it is.
    fn to_json_redacted(&self) -> serde_json::Value {
        let credentials = url::Url::parse(self).is_ok_and(|url| url.password().is_some() || url.query().is_some());
        serde_json::Value::String(if credentials { crate::audit::mask::redact_url(self) } else { self.clone() })
    }
}

impl ConfigValue for PathBuf {
    fn expected() -> String {
        "a path (string)".to_owned()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_str().map(PathBuf::from)
    }
    fn from_env(text: &str) -> Option<Self> {
        Some(PathBuf::from(text))
    }
    fn to_toml(&self) -> Option<Value> {
        Some(Value::from(self.to_string_lossy().as_ref()))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_string_lossy().into_owned())
    }
}

impl ConfigValue for Secret {
    const SECRET: bool = true;
    fn expected() -> String {
        "a string (secret)".to_owned()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_str().map(Secret::new)
    }
    fn from_env(text: &str) -> Option<Self> {
        Some(Secret::new(text))
    }
    fn to_toml(&self) -> Option<Value> {
        Some(Value::from(self.expose()))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::String(REDACTED.to_owned())
    }
}

impl<T: ConfigValue> ConfigValue for Option<T> {
    const SECRET: bool = T::SECRET;
    fn expected() -> String {
        T::expected()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        T::from_toml(value).map(Some)
    }
    /// An empty variable unsets the value.
    fn from_env(text: &str) -> Option<Self> {
        if text.is_empty() { Some(None) } else { T::from_env(text).map(Some) }
    }
    fn to_toml(&self) -> Option<Value> {
        self.as_ref().and_then(T::to_toml)
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        self.as_ref().map_or(serde_json::Value::Null, T::to_json_redacted)
    }
}

impl<T: ConfigValue> ConfigValue for Vec<T> {
    const SECRET: bool = T::SECRET;
    fn expected() -> String {
        format!("a list of {}", strip_article(&T::expected()))
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_array()?.iter().map(T::from_toml).collect()
    }
    /// `[a, b]` as TOML, or a comma-separated list: `a.example,b.example`.
    fn from_env(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        if trimmed.starts_with('[') {
            return trimmed.parse::<Value>().ok().and_then(|v| Self::from_toml(&v));
        }
        trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()).map(T::from_env).collect()
    }
    fn to_toml(&self) -> Option<Value> {
        let mut array = toml_edit::Array::new();
        for item in self {
            array.push(T::to_toml(item)?);
        }
        Some(Value::Array(array))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(T::to_json_redacted).collect())
    }
}

impl<T: ConfigValue> ConfigValue for BTreeMap<String, T> {
    const SECRET: bool = T::SECRET;
    const HAS_ENTRIES: bool = true;
    fn expected() -> String {
        format!("a table of {}", strip_article(&T::expected()))
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_inline_table()?.iter().map(|(k, v)| Some((k.to_owned(), T::from_toml(v)?))).collect()
    }
    fn set_env_entry(&mut self, entry: &str, text: &str) -> Option<bool> {
        Some(T::from_env(text).map(|value| self.insert(entry.to_owned(), value)).is_some())
    }
    fn to_toml(&self) -> Option<Value> {
        let mut table = toml_edit::InlineTable::new();
        for (k, v) in self {
            table.insert(k, T::to_toml(v)?);
        }
        Some(Value::InlineTable(table))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::Object(self.iter().map(|(k, v)| (k.clone(), T::to_json_redacted(v))).collect())
    }
}

fn strip_article(s: &str) -> &str {
    s.strip_prefix("an ").or_else(|| s.strip_prefix("a ")).unwrap_or(s)
}

/// Implements [`ConfigValue`] for a fieldless enum from its snake_case names.
///
/// ```
/// use rail_graphql_security::config::{ConfigValue, config_enum};
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub enum Tier { Free, Paid }
/// config_enum!(Tier { Free => "free", Paid => "paid" });
///
/// assert_eq!(Tier::from_env("paid"), Some(Tier::Paid));
/// assert_eq!(<Tier as ConfigValue>::expected(), "one of \"free\", \"paid\"");
/// ```
#[macro_export]
macro_rules! config_enum {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::config::ConfigValue for $ty {
            fn expected() -> ::std::string::String {
                let names: &[&str] = &[$(::core::concat!("\"", $name, "\"")),+];
                ::std::format!("one of {}", names.join(", "))
            }
            fn from_toml(value: &$crate::__private::toml_edit::Value) -> ::core::option::Option<Self> {
                <Self as $crate::config::ConfigValue>::from_env(value.as_str()?)
            }
            fn from_env(text: &str) -> ::core::option::Option<Self> {
                match text.trim() {
                    $($name => ::core::option::Option::Some(<$ty>::$variant),)+
                    _ => ::core::option::Option::None,
                }
            }
            fn to_toml(&self) -> ::core::option::Option<$crate::__private::toml_edit::Value> {
                ::core::option::Option::Some($crate::__private::toml_edit::Value::from(match self {
                    $(<$ty>::$variant => $name,)+
                }))
            }
            fn to_json_redacted(&self) -> $crate::__private::serde_json::Value {
                $crate::__private::serde_json::Value::from(match self {
                    $(<$ty>::$variant => $name,)+
                })
            }
        }
    };
}
