//! `cargo run -p demo` serves the example GraphQL API; `demo --help` lists the other commands
//! (`config`, `security_check`, `setup_security`, `audit verify`, `simulate`), which all read the same
//! configuration ([`demo::DemoConfig`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rail_graphql_security::audit::CheckpointKey;

/// The rail-graphql-security example server.
#[derive(Debug, Parser)]
#[command(name = "demo", version, about)]
struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the GraphQL API (the default): BIND_ADDR, DATABASE_URL, REDIS_URL, DEMO_PASSWORD,
    /// ADMIN_PASSWORD, JWT_SECRET, MFA_ENCRYPTION_KEY, ... (see `demo config` and the README).
    Serve,
    /// Log a simulated morning of security events and print the security report.
    Simulate,
    /// The configuration commands of rail-graphql-security.
    #[command(flatten)]
    Security(rail_graphql_security::cli::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Security(command) => {
            // `audit verify/export/key` read the demo's own database and signing key: settings
            // that do not load stop them rather than leaving the signatures unchecked.
            let command = match &command {
                rail_graphql_security::cli::Command::Audit(_) => match demo::Settings::load() {
                    Ok(settings) => {
                        let config = &settings.config;
                        command.with_audit_defaults(&config.security.audit, Some(config.database_url()))
                    }
                    Err(e) => {
                        eprintln!(
                            "error: the demo's settings do not load, and `audit` reads its database and keys: {e}"
                        );
                        return ExitCode::from(2);
                    }
                },
                _ => command,
            };
            let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
            let code = rail_graphql_security::cli::execute_with_migrator::<demo::DemoConfig, demo::DemoMigrator>(
                command,
                &mut stdout.lock(),
                &mut stderr.lock(),
            );
            ExitCode::from(code)
        }
        command => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .init();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::from(2);
                }
            };
            let result = runtime.block_on(async {
                match command {
                    Command::Simulate => match demo::Settings::load() {
                        Ok(settings) => {
                            let audit = &settings.config.security.audit;
                            let key =
                                audit.checkpoint_signing_key.as_ref().map(|s| CheckpointKey::from_secret(s.expose()));
                            demo::simulate::run(settings.config.database_url(), key).await
                        }
                        Err(error) => Err(error.into()),
                    },
                    _ => serve().await,
                }
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let settings = demo::Settings::load()?;
    let config = &settings.config;
    let app = demo::build_app(&settings).await?;
    let bind = config.bind_addr();
    let listener =
        tokio::net::TcpListener::bind(bind).await.map_err(|e| format!("cannot listen on {bind} (BIND_ADDR): {e}"))?;
    let address = listener.local_addr()?;
    let production = settings.production();
    let redis = config.security.middleware.rate_limiting.store_url.is_some();
    println!("rail-graphql-security demo (profile {})", settings.profile);
    println!("  GraphQL   http://{address}/graphql{}", if production { "" } else { "  (GraphiQL in a browser)" });
    println!("  dashboard http://{address}/security  (sign in as admin, with its TOTP: enrol it via setupTotp first)");
    println!(
        "  account   http://localhost:{}/account  (your own security: passkeys, TOTP, backup codes, devices, events)",
        address.port()
    );
    println!("  database  {}", app.database_label);
    println!(
        "  limits    {} (REDIS_URL {})",
        if redis {
            "rate limits in Redis, revocations in the database cached in Redis"
        } else {
            "rate limits in memory, revocations in the database"
        },
        if redis { "set" } else { "unset" }
    );
    println!("  config    `demo config` shows every setting and where it came from");
    if production {
        println!("  users     demo, admin (passwords from DEMO_PASSWORD / ADMIN_PASSWORD)");
    } else {
        println!("  users     demo / {}   admin / {}", config.demo_password(), config.admin_password());
        println!("            (DEMO_PASSWORD / ADMIN_PASSWORD override these development defaults)");
        println!("  SMS       development console provider: codes are printed here");
    }
    let security = app.security.clone();
    demo::serve(app.router, listener, stop_signal()).await?;
    let stats = security.shutdown().await?;
    println!("stopped; audit events written: {}", stats.written);
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what systemd, Docker and Kubernetes send
/// to stop a service. Either one lets the server finish its requests and the audit pipeline
/// write every queued event and its final checkpoint. Before SIGTERM was handled it killed the
/// process at once, and events of answered requests were lost.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => eprintln!("warning: cannot listen for SIGTERM ({error}); stop the server with Ctrl-C"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
