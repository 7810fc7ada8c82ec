//! Shared pieces of podium's load generators: starting a server in process and timing helpers.

use podium_api::config::{Settings, SettingsOverrides};
use std::net::SocketAddr;

/// Starts podium on a random local port against `database_url`; returns its address.
pub async fn start_server(database_url: &str) -> anyhow::Result<SocketAddr> {
    let data_dir = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
    let mut settings = Settings::load(None, [], &SettingsOverrides::default())?;
    settings.bind = "127.0.0.1:0".parse()?;
    settings.data_dir = data_dir;
    settings.database_url = Some(database_url.to_owned().into());
    settings.log_level = "warn".into();
    let state = podium_api::build_state(settings).await?;
    let app = podium_api::Application::build(state).await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(addr)
}

/// The `q`-quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
