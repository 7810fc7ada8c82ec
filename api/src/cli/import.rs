//! `podium import results FILE…`: imports past results (public results format, JSON lines, or
//! CSV for files ending in `.csv`; `-` reads standard input as JSON lines) into the configured database, as an admin, and prints the report
//! as JSON.

use crate::app::import::{import_results, source_lines, ImportOptions, ImportReport};
use crate::auth::{dev_claims, Principal, Role};
use crate::config::Settings;
use podium_domain::course::HYROX_STANDARD;
use std::io::Read;
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Past results in the public results format (JSON lines), one podium event per source event.
    Results(ResultsArgs),
}

#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// Files to import; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The venue the events were held at.
    #[arg(long)]
    pub venue: Option<Uuid>,
    /// The time zone of the local start times (IANA name).
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// The course template.
    #[arg(long, default_value = HYROX_STANDARD)]
    pub course: String,
    /// The source's division and category words as podium's, e.g. `--map elite=PRO`
    /// (repeatable; `regular=OPEN pro=PRO men=MEN women=WOMEN mixed=MIXED` are known).
    #[arg(long = "map", value_name = "WORD=NAME")]
    pub map: Vec<String>,
}

pub async fn run(mut settings: Settings, command: &ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Results(args) = command;
    // The command exits when the import is done; a background retraining would be cut off.
    // The server trains a first version at start when there is none (or on the next official
    // event), and `trainPredictionModel` trains one at any time.
    settings.prediction_retrain = false;
    crate::telemetry::init(settings.log_format, &settings.log_level);
    let map: Vec<&str> = args.map.iter().map(String::as_str).collect();
    let options = ImportOptions::new(args.venue, &args.timezone, &args.course, &map)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = crate::build_state(settings).await?;
    let admin = Principal::from_claims(dev_claims(
        Role::Admin,
        Some("podium-import".into()),
        vec![],
        None,
    ));
    let mut report = ImportReport::default();
    for file in &args.files {
        let (name, text) = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            ("stdin".to_owned(), text)
        } else {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (name, text)
        };
        let is_csv = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let lines = source_lines(&text, is_csv).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;

        // On a terminal only (indicatif hides the bar when stderr is not one).
        let bar = indicatif::ProgressBar::new(lines.len() as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {pos}/{len} rows, {eta} left",
            )?,
        );
        bar.set_message(name.clone());
        import_results(
            &state,
            &admin,
            &name,
            lines,
            &options,
            &mut report,
            &mut |rows| bar.inc(rows as u64),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {}", e.public_message()))?;
        bar.finish_and_clear();
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
