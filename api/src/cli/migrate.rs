//! `podium migrate`: applies the database migrations (and TimescaleDB when it can) and exits.

use crate::config::Settings;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format, &settings.log_level);
    for note in &settings.notes {
        tracing::warn!("{note}");
    }
    crate::build_state(settings).await?;
    tracing::info!("migrations applied");
    Ok(())
}
