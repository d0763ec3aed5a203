//! Layered loading: profile defaults < TOML file < environment variables.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use toml_edit::{Item, Table};

use super::SecurityConfig;
use super::error::{ConfigError, ConfigErrors, Source};
use super::profile::{PROFILE_ENV_VAR, Profile};
use super::validate::Validator;
use super::value::{ConfigValue, describe_item};

/// The environment variable that names the config file (no file when unset).
pub const CONFIG_FILE_ENV_VAR: &str = "RAIL_SECURITY_CONFIG";

/// Builds a config from its layers. Later layers win: the profile's defaults, then the TOML
/// file, then environment variables `PREFIX__SECTION__KEY` (e.g. `RAIL_SECURITY__MFA__DIGITS=8`).
///
/// ```
/// use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
///
/// let config = StandardSecurityConfig::loader()
///     .profile(Profile::Production)
///     .env_vars([("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT", "4")])
///     .load()
///     .unwrap();
/// assert_eq!(config.get_middleware_config().rate_limiting.login_attempts_limit, 4);
/// assert!(config.get_mfa_config().enabled);
/// ```
#[derive(Debug)]
pub struct Loader<T> {
    profile: Option<Profile>,
    file: Option<PathBuf>,
    env: Option<Vec<(String, String)>>,
    _config: PhantomData<fn() -> T>,
}

impl<T: SecurityConfig> Default for Loader<T> {
    fn default() -> Self {
        Loader { profile: None, file: None, env: None, _config: PhantomData }
    }
}

/// A loaded config with where each value came from.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The config.
    pub config: T,
    /// The profile it was built for.
    pub profile: Profile,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// The source of every value set by the file or the environment, by dotted key.
    pub origins: BTreeMap<String, Source>,
}

impl<T> Loaded<T> {
    /// Where the value of `key` came from: the file or variable that set it (for a table, the
    /// last of its entries that was set), else the profile's default.
    pub fn source_of(&self, key: &str) -> Source {
        if let Some(source) = self.origins.get(key) {
            return source.clone();
        }
        let entries = format!("{key}.");
        self.origins
            .iter()
            .filter(|(k, _)| k.starts_with(&entries))
            .map(|(_, source)| source.clone())
            .next_back()
            .unwrap_or_else(|| Source::Default(self.profile.clone()))
    }
}

impl<T: SecurityConfig> Loader<T> {
    /// A loader that reads the profile from `RAIL_SECURITY_ENV`, the file from
    /// `RAIL_SECURITY_CONFIG` and overrides from the process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this profile instead of `RAIL_SECURITY_ENV`.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Reads this TOML file instead of the one named by `RAIL_SECURITY_CONFIG`; it must exist.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Uses these variables instead of the process environment (for tests and embedding); when
    /// a name repeats, the last value wins.
    pub fn env_vars<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env = Some(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Loads and validates the config.
    pub fn load(self) -> Result<T, ConfigErrors> {
        self.load_with_origins().map(|loaded| loaded.config)
    }

    /// Loads and validates the config, keeping where each value came from.
    pub fn load_with_origins(self) -> Result<Loaded<T>, ConfigErrors> {
        // A later entry for the same name wins; variables apply in name order.
        let env: BTreeMap<String, String> = match self.env {
            Some(vars) => vars.into_iter().collect(),
            None => std::env::vars().collect(),
        };
        let lookup = |name: &str| env.get(name).map(String::as_str);
        let profile = match self.profile {
            Some(profile) => profile,
            None => Profile::from_env_value(lookup(PROFILE_ENV_VAR))?,
        };
        let file = self.file.or_else(|| lookup(CONFIG_FILE_ENV_VAR).filter(|p| !p.is_empty()).map(PathBuf::from));

        let mut config = T::defaults(&profile);
        let mut cx = LoadContext::new();
        if let Some(path) = &file {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.clone(), source })?;
            apply_toml(&mut config, path, &text, &mut cx)?;
        }
        // Conventional variables (`#[security(env = "DATABASE_URL")]`) first, so the
        // `PREFIX__…` spelling of the same key wins when both are set. An empty one is unset.
        let (keys, unmatched) = super::keys::collect::<T>();
        for alias in unmatched {
            cx.errors.push(ConfigError::Invalid {
                origin: Source::Env(alias.var.to_owned()),
                key: alias.key,
                message: "is named by a `#[security(nested, env(..))]` attribute but the config has no such key: \
                          fix the key path in the attribute"
                    .to_owned(),
            });
        }
        for key in &keys {
            for var in &key.env_aliases {
                if let Some(value) = lookup(var).filter(|value| !value.trim().is_empty()) {
                    let segments: Vec<String> = key.key.split('.').map(str::to_owned).collect();
                    apply_env_segments(&mut config, var, &segments, value, &mut cx);
                }
            }
        }
        for (name, value) in &env {
            apply_env_var(&mut config, name, value, &mut cx);
        }
        let mut errors = cx.errors;
        let mut validator = Validator::new(&profile, &cx.origins, &mut errors);
        config.validate(&mut validator);
        if errors.is_empty() {
            Ok(Loaded { config, profile, file, origins: cx.origins })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// Applies a TOML document's values to `config`; errors are collected in `cx`.
fn apply_toml<T: SecurityConfig>(
    config: &mut T,
    path: &Path,
    text: &str,
    cx: &mut LoadContext,
) -> Result<(), ConfigError> {
    let document = toml_edit::Document::parse(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        line: e.span().map_or(1, |span| line_of(text, span.start)),
        message: e.message().trim().to_owned(),
    })?;
    cx.file = Some(FileText::new(path, text));
    cx.apply_table(config, document.as_table());
    cx.file = None;
    Ok(())
}

fn apply_env_var<T: SecurityConfig>(config: &mut T, name: &str, value: &str, cx: &mut LoadContext) {
    let Some(rest) = name.strip_prefix(T::ENV_PREFIX).and_then(|rest| rest.strip_prefix("__")) else {
        return;
    };
    let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    apply_env_segments(config, name, &segments, value, cx);
}

/// Sets the key `segments` from the variable `name`.
fn apply_env_segments<T: SecurityConfig>(
    config: &mut T,
    name: &str,
    segments: &[String],
    value: &str,
    cx: &mut LoadContext,
) {
    if segments.iter().any(String::is_empty) {
        cx.errors.push(ConfigError::Invalid {
            origin: Source::Env(name.to_owned()),
            key: segments.join("."),
            message: "has an empty segment: separate keys with exactly two underscores (`PREFIX__SECTION__KEY`)"
                .to_owned(),
        });
        return;
    }
    cx.path.push(segments[0].clone());
    let input = Input::Env { var: name, rest: &segments[1..], value };
    if let Err(error) = config.set_key(&segments[0], input, cx) {
        cx.errors.push(error);
    }
    cx.path.pop();
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The file being applied: its path, and where its lines start, so that each key's line is a
/// binary search rather than a count over the text before it (quadratic in a large file).
#[derive(Debug)]
struct FileText {
    path: PathBuf,
    newlines: Vec<usize>,
}

impl FileText {
    fn new(path: &Path, text: &str) -> Self {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect();
        FileText { path: path.to_owned(), newlines }
    }

    /// The 1-based line of byte `offset` (as [`line_of`]).
    fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&newline| newline < offset) + 1
    }
}

/// A value for one key, from a layer. Passed by generated code to [`LoadContext`].
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// From the TOML file.
    Toml(&'a Item),
    /// From an environment variable; `rest` are the key segments below this key.
    Env {
        /// The variable's name.
        var: &'a str,
        /// Key segments below this one (empty for a leaf value).
        rest: &'a [String],
        /// The variable's value.
        value: &'a str,
    },
}

/// State while the layers are applied: the current key path, where each value came from, and
/// the errors found so far. Generated code calls [`LoadContext::leaf`] and
/// [`LoadContext::section`].
#[derive(Debug)]
pub struct LoadContext {
    path: Vec<String>,
    origins: BTreeMap<String, Source>,
    errors: Vec<ConfigError>,
    file: Option<FileText>,
}

impl LoadContext {
    fn new() -> Self {
        LoadContext { path: Vec::new(), origins: BTreeMap::new(), errors: Vec::new(), file: None }
    }

    fn key(&self) -> String {
        self.path.join(".")
    }

    fn source_of(&self, input: &Input<'_>) -> Source {
        match input {
            Input::Toml(item) => {
                let file = self.file.as_ref();
                Source::File {
                    path: file.map(|f| f.path.clone()).unwrap_or_default(),
                    line: item.span().zip(file).map(|(span, f)| f.line(span.start)),
                }
            }
            Input::Env { var, .. } => Source::Env((*var).to_owned()),
        }
    }

    fn apply_table<T: SecurityConfig>(&mut self, config: &mut T, table: &Table) {
        for (key, item) in table.iter() {
            self.path.push(key.to_owned());
            if let Err(error) = config.set_key(key, Input::Toml(item), self) {
                self.errors.push(error);
            }
            self.path.pop();
        }
    }

    /// Sets a leaf value from `input`.
    pub fn leaf<V: ConfigValue>(&mut self, slot: &mut V, input: Input<'_>) -> Result<(), ConfigError> {
        let source = self.source_of(&input);
        let parsed = match input {
            Input::Toml(Item::Value(value)) => {
                V::from_toml(value).ok_or_else(|| super::value::describe_found(value, V::SECRET))
            }
            Input::Toml(item) => Err(describe_item(item)),
            Input::Env { rest: [entry], value, .. } if V::HAS_ENTRIES => {
                // A table value: this variable sets one of its entries.
                let key = format!("{}.{entry}", self.key());
                return match slot.set_env_entry(entry, value) {
                    Some(true) => {
                        self.origins.insert(key, source);
                        Ok(())
                    }
                    _ => Err(ConfigError::WrongType {
                        origin: source,
                        key,
                        expected: format!("an entry of {}", V::expected()),
                        found: if V::SECRET {
                            "a value that is not shown because it is secret".to_owned()
                        } else {
                            format!("`{}`", value.chars().take(80).collect::<String>())
                        },
                    }),
                };
            }
            Input::Env { rest: [next, ..], var, .. } => {
                return Err(ConfigError::Invalid {
                    origin: source,
                    key: self.key(),
                    message: format!(
                        "is a value, not a section, so it has no key `{next}`: rename the variable (it is {var})"
                    ),
                });
            }
            Input::Env { value, .. } => V::from_env(value).ok_or_else(|| {
                if V::SECRET {
                    "a value that is not shown because it is secret".to_owned()
                } else {
                    format!("`{}`", value.chars().take(80).collect::<String>())
                }
            }),
        };
        match parsed {
            Ok(value) => {
                *slot = value;
                self.origins.insert(self.key(), source);
                Ok(())
            }
            Err(found) => {
                Err(ConfigError::WrongType { origin: source, key: self.key(), expected: V::expected(), found })
            }
        }
    }

    /// Applies `input` to a nested section.
    pub fn section<T: SecurityConfig>(&mut self, slot: &mut T, input: Input<'_>) -> Result<(), ConfigError> {
        match input {
            Input::Toml(Item::Table(table)) => {
                self.apply_table(slot, table);
                Ok(())
            }
            Input::Toml(Item::Value(toml_edit::Value::InlineTable(inline))) => {
                let table = inline.clone().into_table();
                self.apply_table(slot, &table);
                Ok(())
            }
            Input::Toml(item) => Err(ConfigError::WrongType {
                origin: self.source_of(&input),
                key: self.key(),
                expected: "a table (a `[section]`)".to_owned(),
                found: describe_item(item),
            }),
            Input::Env { var, rest: [], .. } => Err(ConfigError::Invalid {
                origin: Source::Env(var.to_owned()),
                key: self.key(),
                message: format!(
                    "is a section, not a value: set one of its keys instead, e.g. {var}__{}",
                    T::KEYS.first().map(|k| k.to_ascii_uppercase()).unwrap_or_default()
                ),
            }),
            Input::Env { var, rest: [next, rest @ ..], value } => {
                self.path.push(next.clone());
                let result = slot.set_key(next, Input::Env { var, rest, value }, self);
                self.path.pop();
                result
            }
        }
    }

    /// The error for a key the section does not have.
    pub fn unknown_key(&self, input: Input<'_>, known: &'static [&'static str]) -> ConfigError {
        ConfigError::UnknownKey { origin: self.source_of(&input), key: self.key(), known }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_lines_are_found_as_by_counting() {
        let text = "a = 1\n\n[b]\nc = \"x\"\r\nd = 2";
        let file = FileText::new(Path::new("x.toml"), text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(file.line(offset), line_of(text, offset), "offset {offset}");
        }
    }
}
