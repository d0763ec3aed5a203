//! `setup` (`setup_security`): a commented config with fresh keys, the tables, and the
//! recommendations for the environment.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, EXIT_OK, edit, parse_profile, resolve_config_path, resolve_profile};
use crate::audit::mask::{redact_database_url, redact_url_in};
use crate::config::{Profile, REDACTED, SecurityConfig};
use crate::migration::MigratorTrait;

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
    /// Host names the server answers to, comma-separated (sets the config's `allowed_hosts`
    /// key): a fact only you know, needed to pass the production checks.
    #[arg(long, value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Sets any key, e.g. `--set mfa.sms.provider=twilio --set mfa.sms.twilio_account_sid=AC…`;
    /// the value is TOML (`true`, `5`, `["a", "b"]`) or else a plain string. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

pub(super) fn run<T: SecurityConfig, M: MigratorTrait>(args: &SetupArgs, out: &mut dyn Write) -> Result<u8, CliError> {
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
    let contents = apply_settings::<T>(&render(&config, &profile), args)?;
    // What is written must load back exactly as the server will load it: the checks below
    // score that value, and a bad `--set` is reported before anything is written.
    let config = load_rendered::<T>(&contents, &profile)?;

    let migrate = !args.config_only && !args.no_migrate;
    let database_url = args
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());

    if args.dry_run {
        writeln!(out, "Would write {} (profile: {profile})", path.display())?;
        if migrate {
            writeln!(out, "Would run migrations on {}", redact_database_url(&database_url))?;
        }
    } else {
        // Migrate first: if the database is unreachable nothing has been written.
        if migrate {
            run_migrations::<M>(&database_url)?;
        }
        edit::write_atomically(&path, &contents, edit::Permissions::Private)?;
        writeln!(out, "Wrote {} (profile: {profile})", path.display())?;
        if migrate {
            writeln!(out, "Migrations are up to date on {}", redact_database_url(&database_url))?;
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

/// The `--set` and `--allowed-hosts` values written into the rendered config.
fn apply_settings<T: SecurityConfig>(contents: &str, args: &SetupArgs) -> Result<String, CliError> {
    let mut settings = Vec::new();
    if !args.allowed_hosts.is_empty() {
        let keys = T::leaf_keys();
        let key = keys
            .iter()
            .find(|k| k.key == "allowed_hosts" || k.key.ends_with(".allowed_hosts"))
            .ok_or_else(|| CliError::Message("--allowed-hosts: this config has no `allowed_hosts` key".into()))?;
        let mut hosts = toml_edit::Array::new();
        for host in args.allowed_hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            hosts.push(host);
        }
        settings.push((key.key.clone(), toml_edit::Value::Array(hosts)));
    }
    for setting in &args.set {
        let (key, value) = setting.split_once('=').ok_or_else(|| {
            CliError::Message(format!("--set {setting:?}: write KEY=VALUE, e.g. --set mfa.sms.provider=twilio"))
        })?;
        let value = value.trim();
        let value = value.parse::<toml_edit::Value>().unwrap_or_else(|_| toml_edit::Value::from(value));
        settings.push((key.trim().to_owned(), value));
    }
    if settings.is_empty() {
        return Ok(contents.to_owned());
    }
    let mut document: toml_edit::DocumentMut =
        contents.parse().map_err(|e: toml_edit::TomlError| CliError::Message(format!("rendered config: {e}")))?;
    for (key, value) in settings {
        edit::set_dotted(&mut document, &key, value)?;
    }
    Ok(document.to_string())
}

/// Loads `contents` as the config file for `profile`, with no environment overrides.
fn load_rendered<T: SecurityConfig>(contents: &str, profile: &Profile) -> Result<T, CliError> {
    let dir = tempfile_dir()?;
    let path = dir.join("security.toml");
    std::fs::write(&path, contents).map_err(|source| CliError::Write { path: path.clone(), source })?;
    let loaded = T::loader().profile(profile.clone()).file(&path).env_vars(Vec::<(String, String)>::new()).load();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(loaded?)
}

/// A fresh private directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("rail-security-setup-{}", uuid::Uuid::new_v4()));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|source| CliError::Write { path: dir.clone(), source })?;
    Ok(dir)
}

/// The migrations of the stock commands: the audit and revocation tables, not the MFA tables,
/// whose `user_id` type and foreign key belong to the application (`#[security_user]`
/// generates them): created here first, they would make the application's own migration of
/// them a silent no-op with the wrong key type. Mount your migrator with
/// [`run_with_migrator`](super::run_with_migrator) to create everything.
#[derive(Debug)]
pub struct StockMigrator;

/// An MFA step kept in [`StockMigrator`]'s list under its own name, doing nothing: a database
/// whose bookkeeping already records the step (the passkey tables were created by `setup`
/// before it left them out) must find it in the list, or every later migration fails with
/// "Migration file … is missing".
struct LeftToTheApplication(String);

impl crate::migration::MigrationName for LeftToTheApplication {
    fn name(&self) -> &str {
        &self.0
    }
}

#[async_trait::async_trait]
impl crate::migration::MigrationTrait for LeftToTheApplication {
    async fn up(&self, _: &crate::migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        Ok(())
    }

    async fn down(&self, _: &crate::migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl MigratorTrait for StockMigrator {
    fn migrations() -> Vec<Box<dyn crate::migration::MigrationTrait>> {
        let mfa = crate::migration::Migrator::mfa_migration_names();
        crate::migration::Migrator::migrations()
            .into_iter()
            .map(|migration| {
                let name = migration.name().to_owned();
                if mfa.contains(&name) { Box::new(LeftToTheApplication(name)) } else { migration }
            })
            .collect()
    }

    fn migration_table_name() -> sea_orm::DynIden {
        crate::migration::Migrator::migration_table_name()
    }
}

fn run_migrations<M: MigratorTrait>(url: &str) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut options = sea_orm::ConnectOptions::new(url);
        options.connect_timeout(std::time::Duration::from_secs(5)).acquire_timeout(std::time::Duration::from_secs(5));
        let db = sea_orm::Database::connect(options).await.map_err(|e| {
            CliError::Message(format!(
                "cannot connect to the database {}: {}; check DATABASE_URL or --database-url, or pass --no-migrate",
                redact_database_url(url),
                redact_url_in(&e.to_string(), url)
            ))
        })?;
        M::up(&db, None).await.map_err(|e| {
            CliError::Message(format!(
                "migrations failed on {}: {}",
                redact_database_url(url),
                redact_url_in(&e.to_string(), url)
            ))
        })?;
        let _ = db.close().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::StockMigrator;
    use crate::migration::{Migrator, MigratorTrait};

    /// Every step of the full list is in the stock list under its name (the MFA ones doing
    /// nothing), so a database that either migrator ran stays migratable by the stock one.
    #[test]
    fn the_stock_list_names_every_step() {
        let names = |list: Vec<Box<dyn crate::migration::MigrationTrait>>| {
            list.iter().map(|m| m.name().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(names(StockMigrator::migrations()), names(Migrator::migrations()));
    }

    /// The stock `setup` on SQLite creates the audit and revocation tables, never the MFA ones;
    /// and it runs on a database whose bookkeeping recorded the passkey step (as an earlier
    /// `setup` did when it created the passkey tables).
    #[cfg(feature = "sqlx-sqlite")]
    #[tokio::test]
    async fn the_stock_migrator_leaves_the_mfa_tables_alone() {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        StockMigrator::up(&db, None).await.unwrap();
        let tables = |db: sea_orm::DatabaseConnection| async move {
            let rows = db
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                ))
                .await
                .unwrap();
            rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect::<Vec<_>>()
        };
        let created = tables(db.clone()).await;
        assert!(created.contains(&"audit_events".to_owned()), "{created:?}");
        assert!(!created.iter().any(|t| t.starts_with("mfa_") || t == "trusted_devices"), "{created:?}");
        let passkeys = Migrator::mfa_migration_names()[1].clone();
        let applied = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "SELECT COUNT(*) FROM rail_security_migrations WHERE version = ?",
                [passkeys.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(applied, 1, "recorded as applied (a no-op), so later runs find it");
        StockMigrator::up(&db, None).await.expect("a second run finds every recorded step");
    }
}
