//! `rail-security-migrate`: runs the security tables' migrations against `DATABASE_URL`
//! (sea-orm-migration's CLI: `up`, `down`, `status`, `fresh`, `refresh`, `reset`).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(rail_graphql_security_migration::Migrator).await;
}
