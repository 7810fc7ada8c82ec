//! The `podium` binary: parse the command line, load settings, run the sub-command.

use clap::Parser;
use podium_api::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = match cli.load_settings() {
        Ok(settings) => settings,
        Err(e) => {
            // A configuration mistake is the operator's to fix: say what and where, no trace.
            eprintln!("podium: configuration: {e:#}");
            std::process::exit(2);
        }
    };
    podium_api::cli::run(&cli.command, settings).await
}
