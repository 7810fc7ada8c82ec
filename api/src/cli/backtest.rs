//! `podium backtest [--events …]`: the finish prediction model's leave-one-event-out backtest
//! on the official results in the database — per timing point, the mean absolute error in %
//! of the finish time, the 80 % interval's coverage, and both baselines (twice the elapsed
//! time; the division's median elapsed fraction on the other events).

use crate::config::Settings;
use podium_domain::course::Course;
use podium_domain::prediction::{backtest, Model, PointMetrics};

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Only predict these events' results (ids or names; every official event's results
    /// are still references for the others).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub events: Vec<String>,
    /// Backtest the perceived-fatigue (BMQ) forecast instead: rolling origins every 7 days,
    /// 7 days ahead, on every athlete with ratings.
    #[arg(long, conflicts_with = "events")]
    pub fatigue: bool,
}

pub async fn run(mut settings: Settings, args: &BacktestArgs) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format, "warn");
    settings.prediction_retrain = false;
    let state = crate::build_state(settings).await?;
    if args.fatigue {
        let result = crate::app::fatigue::backtest(&state).await?;
        print!("{}", crate::app::fatigue::backtest_table(&result));
        return Ok(());
    }
    let course = Course::hyrox_standard();
    let efforts = state
        .predictions_repo
        .training_efforts(course.code())
        .await?;
    if efforts.is_empty() {
        anyhow::bail!(
            "no finished results of official events on {} to backtest",
            course.code()
        );
    }
    let (events, references) = crate::app::prediction::references(&efforts, course.points().len());
    let mut names = Vec::with_capacity(events.len());
    for id in &events {
        let name = state
            .repo
            .event(*id)
            .await?
            .map(|e| e.name)
            .unwrap_or_default();
        names.push(name);
    }
    let mut wanted = Vec::new();
    for asked in &args.events {
        let found = events
            .iter()
            .zip(&names)
            .position(|(id, name)| id.to_string() == *asked || name == asked)
            .ok_or_else(|| anyhow::anyhow!("--events: no official event `{asked}` with results"))?;
        wanted.push(found as u32);
    }
    let model = Model::new(&course, references);
    let metrics = tokio::task::spawn_blocking(move || backtest(&model, &wanted)).await?;
    println!(
        "{} results of {} official events; predicted: {}",
        efforts.len(),
        events.len(),
        if args.events.is_empty() {
            "all".to_owned()
        } else {
            args.events.join(", ")
        }
    );
    print!("{}", table(&course, &metrics));
    Ok(())
}

/// The backtest as a Markdown table.
pub fn table(course: &Course, metrics: &[PointMetrics]) -> String {
    let mut out = String::from(
        "| timing point | predictions | MAE % | 80 % coverage | 2 × elapsed, MAE % | median fraction, MAE % |\n\
         |---|---|---|---|---|---|\n",
    );
    for m in metrics {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.1} % | {:.2} | {:.2} |\n",
            course.points()[m.point],
            m.predictions,
            m.mae_pct,
            100.0 * m.coverage80,
            m.baseline_naive_pct,
            m.baseline_median_fraction_pct
        ));
    }
    out
}
