//! `podium serve`: builds the application and serves until Ctrl-C or SIGTERM.

use crate::config::Settings;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let traces = crate::telemetry::init_with_traces(&settings)?;
    for note in &settings.notes {
        tracing::warn!("{note}");
    }
    let state = crate::build_state(settings).await?;
    let app = crate::Application::build(state).await?;
    tracing::info!(address = %app.local_addr(), "podium listening; GraphiQL at http://{}/graphql", app.local_addr());
    if traces.exporting() {
        tracing::info!("exporting spans over OTLP");
    }
    let served = app.run_until(crate::shutdown_signal()).await;
    traces.shut_down().await;
    served
}
