//! The `podium` binary: parse the command line, load settings, start telemetry, dispatch.

use clap::Parser;
use podium_api::cli::{mint_token, Cli, Command};

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
    match &cli.command {
        Command::Schema => {
            print!("{}", podium_api::transport::graphql::sdl());
        }
        Command::Token(args) => {
            println!("{}", mint_token(&settings, args)?);
        }
        Command::Migrate => {
            podium_api::telemetry::init(settings.log_format, &settings.log_level);
            for note in &settings.notes {
                tracing::warn!("{note}");
            }
            podium_api::build_state(settings).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            podium_api::telemetry::init(settings.log_format, &settings.log_level);
            for note in &settings.notes {
                tracing::warn!("{note}");
            }
            let state = podium_api::build_state(settings).await?;
            let app = podium_api::Application::build(state).await?;
            tracing::info!(address = %app.local_addr(), "podium listening; GraphiQL at http://{}/graphql", app.local_addr());
            app.run_until(podium_api::shutdown_signal()).await?;
        }
        Command::Demo(args) => {
            podium_api::demo::run(&settings, args).await?;
        }
    }
    Ok(())
}
