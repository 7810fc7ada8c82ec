//! The `podium` command line: sub-commands and their flags, one file each. `main.rs` parses
//! the command line, loads the settings and calls `run`.

mod backtest;
mod backup;
pub mod demo;
mod import;
mod migrate;
mod schema;
mod serve;
mod token;

pub use token::{mint_token, TokenArgs};

use crate::config::{Settings, SettingsOverrides};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "podium",
    version,
    about = "Results and analytics backend for HYROX-format races"
)]
pub struct Cli {
    /// A TOML settings file [env: PODIUM_CONFIG]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsOverrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (GraphQL, WebSocket, REST ingest, exports).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Mint a development access token.
    Token(TokenArgs),
    /// Import past results.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Simulate a live race against a running server.
    Demo(demo::DemoArgs),
    /// Backtest the finish prediction model on the official results in the database.
    Backtest(backtest::BacktestArgs),
    /// Write a consistent copy of the database (online) to a new file.
    Backup(backup::BackupArgs),
    /// Restore a backup into the configured database, which must be new and empty.
    Restore(backup::RestoreArgs),
}

impl Cli {
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        Settings::from_env(self.config.clone(), &self.settings)
    }
}

/// Runs `command` with `settings`.
pub async fn run(command: &Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(settings).await,
        Command::Migrate => migrate::run(settings).await,
        Command::Schema => {
            schema::run();
            Ok(())
        }
        Command::Token(args) => token::run(&settings, args),
        Command::Import(command) => import::run(settings, command).await,
        Command::Demo(args) => demo::run(&settings, args).await,
        Command::Backtest(args) => backtest::run(settings, args).await,
        Command::Backup(args) => backup::backup(settings, args).await,
        Command::Restore(args) => backup::restore(settings, args).await,
    }
}
