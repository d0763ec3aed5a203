//! The list of every leaf key of a config, as the derive declares it: the dotted key, the
//! `PREFIX__…` variable and the conventional variables (`#[security(env = "…")]`) that set it.
//! The loader, the `config` command and documentation checks all read this one list.

use super::SecurityConfig;

/// One leaf key of a config.
///
/// ```
/// use rail_graphql_security::config::{SecurityConfig, StandardSecurityConfig};
///
/// let keys = StandardSecurityConfig::leaf_keys();
/// let digits = keys.iter().find(|k| k.key == "mfa.digits").unwrap();
/// assert_eq!(digits.env, "RAIL_SECURITY__MFA__DIGITS");
/// assert!(!digits.secret);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The dotted key, e.g. `middleware.rate_limiting.enabled`.
    pub key: String,
    /// The `PREFIX__SECTION__KEY` variable that sets it.
    pub env: String,
    /// Conventional variables that also set it (`#[security(env = "DATABASE_URL")]`), in the
    /// order they are applied; the `PREFIX__…` variable is applied after them and wins.
    pub env_aliases: Vec<&'static str>,
    /// Whether the value is a secret (shown as `[REDACTED]`).
    pub secret: bool,
    /// What the key takes, e.g. "an integer".
    pub expected: String,
    /// The field's doc comment.
    pub doc: &'static str,
}

/// A conventional variable declared on a section for a key that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedEnv {
    /// The variable.
    pub var: &'static str,
    /// The dotted key it names.
    pub key: String,
}

#[derive(Debug)]
struct PendingAlias {
    var: &'static str,
    key: String,
    matched: bool,
}

/// Collects the keys of a config; generated code calls [`leaf`](Self::leaf) and
/// [`section`](Self::section) from [`SecurityConfig::collect_keys`].
#[derive(Debug, Default)]
pub struct KeyCollector {
    path: Vec<&'static str>,
    pending: Vec<PendingAlias>,
    keys: Vec<KeyInfo>,
    unmatched: Vec<UnmatchedEnv>,
}

impl KeyCollector {
    fn full_key(&self, key: &str) -> String {
        let mut full = self.path.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(key);
        full
    }

    /// A leaf key of the current section.
    pub fn leaf(&mut self, key: &'static str, env: &[&'static str], doc: &'static str, expected: String, secret: bool) {
        let full = self.full_key(key);
        // Variables declared by enclosing sections (outermost first), then the field's own.
        let mut env_aliases = Vec::new();
        for alias in &mut self.pending {
            if alias.key == full {
                alias.matched = true;
                env_aliases.push(alias.var);
            }
        }
        env_aliases.extend_from_slice(env);
        self.keys.push(KeyInfo { key: full, env: String::new(), env_aliases, secret, expected, doc });
    }

    /// A nested section: its keys under `key`, with the conventional variables `env` declared
    /// on it as (variable, key path below the section).
    pub fn section(&mut self, key: &'static str, env: &[(&'static str, &'static str)], keys: fn(&mut KeyCollector)) {
        let start = self.pending.len();
        let base = self.full_key(key);
        self.pending.extend(env.iter().map(|(var, path)| PendingAlias {
            var,
            key: format!("{base}.{path}"),
            matched: false,
        }));
        self.path.push(key);
        keys(self);
        self.path.pop();
        for alias in self.pending.drain(start..) {
            if !alias.matched {
                self.unmatched.push(UnmatchedEnv { var: alias.var, key: alias.key });
            }
        }
    }
}

/// Every leaf key of `T` with its `PREFIX__…` variable, and the declared variables that name no
/// key.
pub(crate) fn collect<T: SecurityConfig>() -> (Vec<KeyInfo>, Vec<UnmatchedEnv>) {
    let mut collector = KeyCollector::default();
    T::collect_keys(&mut collector);
    let mut keys = collector.keys;
    for key in &mut keys {
        key.env = env_var_name(T::ENV_PREFIX, &key.key);
    }
    (keys, collector.unmatched)
}

/// `PREFIX__SECTION__KEY` for a dotted key.
pub(crate) fn env_var_name(prefix: &str, key: &str) -> String {
    format!("{prefix}__{}", key.replace('.', "__").to_ascii_uppercase())
}
