//! Loading and validation errors: each names where the value came from, the key and what was
//! expected.

use std::fmt;
use std::path::PathBuf;

use super::profile::Profile;

/// Where a config value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default of a profile.
    Default(Profile),
    /// A TOML file (with the line of the value when known).
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the value.
        line: Option<usize>,
    },
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default(profile) => write!(f, "the `{profile}` profile's default"),
            Source::File { path, line: Some(line) } => write!(f, "{}:{line}", path.display()),
            Source::File { path, line: None } => write!(f, "{}", path.display()),
            Source::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// One problem with a configuration. The message is one line that says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The profile name is not valid.
    #[error("{source_name}: {message}")]
    Profile {
        /// Where the name came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {}: {source}; check the path given by --config or RAIL_SECURITY_CONFIG", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}:{line}: invalid TOML: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A key the config does not have (often a typo).
    #[error("{origin}: unknown key `{key}`; {}", known_keys(key, known))]
    UnknownKey {
        /// Where the key was found.
        origin: Source,
        /// The dotted key.
        key: String,
        /// The keys this section has.
        known: &'static [&'static str],
    },
    /// A value of the wrong type.
    #[error("{origin}: `{key}` must be {expected}, found {found}")]
    WrongType {
        /// Where the value was found.
        origin: Source,
        /// The dotted key.
        key: String,
        /// What the key takes, e.g. "an integer between 0 and 255".
        expected: String,
        /// What was there instead (never a secret's value).
        found: String,
    },
    /// A value that has the right type but fails validation.
    #[error("{origin}: `{key}` {message}")]
    Invalid {
        /// Where the value came from.
        origin: Source,
        /// The dotted key.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

fn known_keys(key: &str, known: &[&str]) -> String {
    if known.is_empty() {
        return "this section has no keys".to_owned();
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    let closest = known.iter().map(|k| (strsim::levenshtein(last, k), *k)).min().filter(|(d, _)| *d <= 2);
    match closest {
        Some((_, suggestion)) => format!("did you mean `{suggestion}`? expected one of: {}", known.join(", ")),
        None => format!("expected one of: {}", known.join(", ")),
    }
}

/// Every problem found while loading a configuration (all of them, not just the first).
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
