//! `setup` (`setup_security`): a commented config with fresh keys, the tables, and the
//! recommendations for the environment.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, EXIT_OK, edit, parse_profile, resolve_config_path, resolve_profile};
use crate::config::{Profile, REDACTED, SecurityConfig};

/// The database used when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://rail-security.db?mode=rwc";

/// Options of `setup`.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// The profile to write: development, staging, production or your own (default:
    /// $RAIL_SECURITY_ENV, else development).
    #[arg(long, short, value_parser = parse_profile)]
    pub environment: Option<Profile>,
    /// Where to write the config (default: $RAIL_SECURITY_CONFIG, else security.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Write the config file only: no migrations, no recommendations.
    #[arg(long)]
    pub config_only: bool,
    /// Do not run the database migrations.
    #[arg(long)]
    pub no_migrate: bool,
    /// Overwrite an existing config file.
    #[arg(long)]
    pub force: bool,
    /// Show what would be done without writing or migrating anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The database to migrate (default: $DATABASE_URL, else a SQLite file rail-security.db).
    #[arg(long)]
    pub database_url: Option<String>,
}

pub(super) fn run<T: SecurityConfig>(args: &SetupArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let profile = resolve_profile(args.environment.as_ref())?;
    let path = resolve_config_path(args.config.as_ref()).unwrap_or_else(|| PathBuf::from("security.toml"));
    if path.exists() && !args.force {
        return Err(CliError::Message(format!(
            "{} already exists; pass --force to overwrite it, or --config to write elsewhere",
            path.display()
        )));
    }

    let mut config = T::defaults(&profile);
    let before = config.to_json_redacted();
    config.generate_secrets();
    let generated = generated_keys(&before, &config.to_json_redacted());
    let contents = render(&config, &profile);

    let migrate = !args.config_only && !args.no_migrate;
    let database_url = args
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());

    if args.dry_run {
        writeln!(out, "Would write {} (profile: {profile})", path.display())?;
        if migrate {
            writeln!(out, "Would run migrations on {}", redact_url(&database_url))?;
        }
    } else {
        // Migrate first: if the database is unreachable nothing has been written.
        if migrate {
            run_migrations(&database_url)?;
        }
        edit::write_atomically(&path, &contents, edit::Permissions::Private)?;
        writeln!(out, "Wrote {} (profile: {profile})", path.display())?;
        if migrate {
            writeln!(out, "Migrations are up to date on {}", redact_url(&database_url))?;
        }
    }
    if !generated.is_empty() {
        let verb = if args.dry_run { "would be generated" } else { "generated" };
        writeln!(out, "Fresh random keys {verb}: {}", generated.join(", "))?;
        writeln!(out, "Keep {} private (mode 0600): it holds these keys.", path.display())?;
    }
    if args.config_only {
        return Ok(EXIT_OK);
    }
    let report = config.run_checks(&profile);
    let failures = report.failures();
    if failures.is_empty() {
        writeln!(out, "\nThe {profile} configuration passes every check.")?;
    } else {
        writeln!(out, "\nRecommendations for {profile}:")?;
        for (i, check) in failures.iter().enumerate() {
            writeln!(out, "{}. {}", i + 1, check.recommendation.as_deref().unwrap_or(&check.message))?;
        }
    }
    writeln!(out, "\nNext: edit {} and run `check --environment {profile}`.", path.display())?;
    Ok(EXIT_OK)
}

fn render<T: SecurityConfig>(config: &T, profile: &Profile) -> String {
    let mut document = toml_edit::DocumentMut::new();
    config.write_toml(document.as_table_mut());
    let header = format!(
        "# Security configuration, profile `{profile}` (written by `setup`).\n\
         # Keep this file private: it holds generated keys.\n\
         # Environment variables {prefix}__SECTION__KEY override any value here.\n\n",
        prefix = T::ENV_PREFIX
    );
    format!("{header}{document}")
}

/// Dotted keys that were unset before and hold a (redacted) secret after.
fn generated_keys(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    fn walk(before: &serde_json::Value, after: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<String>) {
        match (before, after) {
            (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
                for (key, value) in a {
                    path.push(key.clone());
                    walk(b.get(key).unwrap_or(&serde_json::Value::Null), value, path, out);
                    path.pop();
                }
            }
            (b, serde_json::Value::String(s)) if s == REDACTED && b != after => out.push(path.join(".")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(before, after, &mut Vec::new(), &mut out);
    out
}

fn run_migrations(url: &str) -> Result<(), CliError> {
    use crate::migration::{Migrator, MigratorTrait};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut options = sea_orm::ConnectOptions::new(url);
        options.connect_timeout(std::time::Duration::from_secs(5)).acquire_timeout(std::time::Duration::from_secs(5));
        let db = sea_orm::Database::connect(options).await.map_err(|e| {
            CliError::Message(format!(
                "cannot connect to the database {}: {e}; check DATABASE_URL or --database-url, or pass --no-migrate",
                redact_url(url)
            ))
        })?;
        Migrator::up(&db, None)
            .await
            .map_err(|e| CliError::Message(format!("migrations failed on {}: {e}", redact_url(url))))?;
        let _ = db.close().await;
        Ok(())
    })
}

/// The URL without its password.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "[unparseable database url]".to_owned(),
    }
}
