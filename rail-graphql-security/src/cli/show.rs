//! `config`: the effective configuration — every key, its value (secrets as `[REDACTED]`),
//! where the value came from and the variables that set it.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::{CliError, EXIT_OK, Format, parse_profile, resolve_config_path, resolve_profile};
use crate::config::{Loaded, Profile, SecurityConfig, Source};

/// Options of `config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// The config file (default: $RAIL_SECURITY_CONFIG; without either, defaults and env only).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The profile to load (default: $RAIL_SECURITY_ENV, else development).
    #[arg(long, short, value_parser = parse_profile)]
    pub environment: Option<Profile>,
    /// Output format: a table, or a JSON list of `{key, value, source, env, ...}`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// One row of the effective configuration.
struct Row {
    key: String,
    value: serde_json::Value,
    source: Source,
    env: String,
    env_aliases: Vec<&'static str>,
    secret: bool,
}

pub(super) fn run<T: SecurityConfig>(args: &ConfigArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let profile = resolve_profile(args.environment.as_ref())?;
    let file = resolve_config_path(args.config.as_ref());
    let mut loader = T::loader().profile(profile.clone());
    if let Some(path) = &file {
        loader = loader.file(path);
    }
    let loaded = loader.load_with_origins()?;
    let rows = rows(&loaded);
    match args.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    json!({
                        "key": row.key,
                        "value": row.value,
                        "source": source_text(&row.source),
                        "source_kind": match row.source {
                            Source::Default(_) => "default",
                            Source::File { .. } => "file",
                            Source::Env(_) => "env",
                        },
                        "env": row.env,
                        "env_aliases": row.env_aliases,
                        "secret": row.secret,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &list).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(
                out,
                "Effective configuration (profile `{profile}`, file {})",
                file.as_ref().map_or_else(|| "none".to_owned(), |f| f.display().to_string())
            )?;
            for row in &rows {
                let mut vars = row.env_aliases.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
                vars.push(row.env.clone());
                writeln!(
                    out,
                    "{} = {}    # from {}; set with {}",
                    row.key,
                    row.value,
                    source_text(&row.source),
                    vars.join(" or ")
                )?;
            }
        }
    }
    Ok(EXIT_OK)
}

/// `default (production)`, `security.toml:12` or `env LOGIN_ATTEMPTS_LIMIT`.
fn source_text(source: &Source) -> String {
    match source {
        Source::Default(profile) => format!("default ({profile})"),
        Source::File { path, line: Some(line) } => format!("{}:{line}", path.display()),
        Source::File { path, line: None } => path.display().to_string(),
        Source::Env(var) => format!("env {var}"),
    }
}

fn rows<T: SecurityConfig>(loaded: &Loaded<T>) -> Vec<Row> {
    let json = loaded.config.to_json_redacted();
    T::leaf_keys()
        .into_iter()
        .map(|info| {
            let value = info
                .key
                .split('.')
                .try_fold(&json, |node, segment| node.get(segment))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            Row {
                source: loaded.source_of(&info.key),
                key: info.key,
                value,
                env: info.env,
                env_aliases: info.env_aliases,
                secret: info.secret,
            }
        })
        .collect()
}
