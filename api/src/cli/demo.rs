//! `podium demo`: creates an event with simulated entries on a running server and feeds it the
//! race's detections in (accelerated) real time, so leaderboards move.

use crate::auth::{dev_claims, Role};
use crate::config::Settings;
use anyhow::{bail, Context};
use podium_domain::simulation::{simulate, SimConfig};
use podium_domain::timing::Timestamp;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the server; defaults to http://<bind>.
    #[arg(long)]
    pub server: Option<String>,
    /// Number of entries.
    #[arg(long, default_value_t = 300)]
    pub entries: usize,
    /// Race seconds per wall-clock second.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after this many wall-clock seconds (default: run the race to the end).
    #[arg(long)]
    pub max_seconds: Option<u64>,
    /// Also simulate 16 weeks of training and wellness data (a build-up to this race: load
    /// waves, a taper, sleep and HRV that answer to the load, BMQ ratings) for the first
    /// `--training-athletes` athletes, so training load, readiness and the fatigue forecast
    /// have something to show.
    #[arg(long)]
    pub training: bool,
    #[arg(long, default_value_t = 20)]
    pub training_athletes: usize,
}

pub struct DemoClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl DemoClient {
    pub fn new(base: &str, token: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response: Value = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .with_context(|| format!("POST {}/graphql: is `podium serve` running?", self.base))?
            .json()
            .await?;
        if let Some(errors) = response.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        Ok(response["data"].clone())
    }

    pub async fn ingest(&self, event_id: &str, rows: &[Value]) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/v1/events/{event_id}/detections", self.base))
            .bearer_auth(&self.token)
            .json(rows)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("ingest answered {status}: {body}");
        }
        Ok(body)
    }
}

/// Creates an event with the simulated entries; returns its id.
pub async fn create_simulated_event(
    client: &DemoClient,
    name: &str,
    config: &SimConfig,
) -> anyhow::Result<(String, podium_domain::simulation::SimRace)> {
    let (event_id, race, _) = create_simulated_event_with_athletes(client, name, config).await?;
    Ok((event_id, race))
}

/// Creates an event with the simulated entries; returns its id, the race, and the entries'
/// athlete ids in entry order.
pub async fn create_simulated_event_with_athletes(
    client: &DemoClient,
    name: &str,
    config: &SimConfig,
) -> anyhow::Result<(String, podium_domain::simulation::SimRace, Vec<String>)> {
    let race = simulate(config);
    let mut athletes = Vec::with_capacity(race.entries.len());
    let data = client
        .graphql(
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "name": name, "startsAt": config.starts_at.to_string(), "timezone": "UTC", "course": "HYROX_STANDARD" } }),
        )
        .await?;
    let event_id = data["createEvent"]["id"]
        .as_str()
        .context("createEvent returned no id")?
        .to_owned();
    for chunk in race.entries.chunks(1000) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|e| {
                json!({
                    "bib": e.bib, "firstName": e.first_name, "lastName": e.last_name,
                    "gender": e.gender.as_str(), "category": e.category.as_str(),
                    "birthYear": e.birth_year, "waveStart": e.wave_start.to_string(),
                })
            })
            .collect();
        let added = client
            .graphql(
                "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { id athlete { id } } }",
                json!({ "id": event_id, "entries": entries }),
            )
            .await?;
        athletes.extend(
            added["addEntries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["athlete"]["id"].as_str().map(str::to_owned)),
        );
    }
    Ok((event_id, race, athletes))
}

/// A sample as `POST /v1/athletes/{id}/wellness` takes it: kind, time, source id and the
/// kind's fields.
pub fn wellness_json(sample: &podium_domain::wellness::WellnessSample) -> Value {
    let mut fields = match serde_json::to_value(&sample.measurement) {
        Ok(Value::Object(tagged)) => tagged
            .into_iter()
            .next()
            .and_then(|(_, v)| v.as_object().cloned())
            .unwrap_or_default(),
        _ => Default::default(),
    };
    fields.retain(|_, v| !v.is_null());
    fields.insert("kind".into(), json!(sample.kind().as_str()));
    fields.insert("at".into(), json!(sample.at.to_string()));
    fields.insert("sourceId".into(), json!(sample.source_id));
    Value::Object(fields)
}

impl DemoClient {
    /// Records an athlete's samples, in batches.
    pub async fn record_wellness(&self, athlete_id: &str, rows: &[Value]) -> anyhow::Result<()> {
        for chunk in rows.chunks(500) {
            let response = self
                .http
                .post(format!("{}/v1/athletes/{athlete_id}/wellness", self.base))
                .bearer_auth(&self.token)
                .json(chunk)
                .send()
                .await?;
            let status = response.status();
            let body: Value = response.json().await?;
            if !status.is_success() || body["rejected"].as_array().is_some_and(|r| !r.is_empty()) {
                bail!("recording wellness answered {status}: {body}");
            }
        }
        Ok(())
    }
}

/// 16 weeks of simulated training before `race_day` for each athlete.
async fn simulate_training(
    client: &DemoClient,
    athletes: &[String],
    race_day: chrono::NaiveDate,
    seed: u64,
) -> anyhow::Result<()> {
    use podium_domain::training_simulation::{training_block, TrainingBlock};
    for (i, athlete) in athletes.iter().enumerate() {
        let samples = training_block(&TrainingBlock {
            seed: seed.wrapping_mul(1000).wrapping_add(i as u64),
            race_day,
            weeks: 16,
            volume: 0.7 + 0.1 * (i % 7) as f64,
            bmq: true,
        });
        let rows: Vec<Value> = samples.iter().map(wellness_json).collect();
        client.record_wellness(athlete, &rows).await?;
    }
    Ok(())
}

pub fn detection_json(read: &podium_domain::simulation::SimRead) -> Value {
    json!({ "bib": read.bib, "timingPoint": read.point, "timestamp": read.at.to_string(), "readId": read.read_id })
}

pub async fn run(settings: &Settings, args: &DemoArgs) -> anyhow::Result<()> {
    if args.speed <= 0.0 {
        bail!("--speed must be positive");
    }
    let token = crate::auth::Authenticator::new(settings)?.mint_dev(
        dev_claims(Role::Admin, Some("podium-demo".into()), vec![], None),
        chrono::Duration::hours(12),
    )?;
    let base = args
        .server
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.bind));
    let client = DemoClient::new(&base, token);

    let now = chrono::Utc::now().timestamp_millis();
    let config = SimConfig {
        seed: args.seed,
        entries: args.entries,
        starts_at: Timestamp(now - now % 1000),
        ..SimConfig::default()
    };
    let (event_id, race, athletes) =
        create_simulated_event_with_athletes(&client, "podium demo race", &config).await?;
    if args.training {
        let chosen = &athletes[..args.training_athletes.min(athletes.len())];
        let race_day = config.starts_at.to_chrono().date_naive();
        simulate_training(&client, chosen, race_day, args.seed).await?;
        println!(
            "training: 16 simulated weeks (not real data) for {} athletes; e.g.",
            chosen.len()
        );
        if let Some(athlete) = chosen.first() {
            println!("  {{ trainingLoad(athleteId: \"{athlete}\", from: \"{}\", to: \"{race_day}\") {{ date load ctl atl tsb acwr }} }}", race_day - chrono::Duration::days(111));
            println!("  {{ fatigueForecast(athleteId: \"{athlete}\", days: 7) {{ date moment bmq low high model }} }}");
            println!("  {base}/v1/athletes/{athlete}/charts/load.svg (with the admin token)");
            println!("  podium backtest --fatigue");
        }
    }
    println!(
        "event {event_id}: {} entries, {} detections to send",
        race.entries.len(),
        race.reads.len()
    );
    println!("watch it live: open {base}/events/{event_id}/live (the big-screen leaderboard)");
    println!("or open {base}/graphql and run");
    println!("  {{ leaderboard(eventId: \"{event_id}\", first: 10) {{ edges {{ node {{ rank bib status netTimeMs lastTimingPoint athlete {{ name }} }} }} }} }}");

    let mut reads = race.reads.clone();
    reads.sort_by_key(|r| r.at);
    let started = Instant::now();
    let mut next = 0;
    while next < reads.len() {
        let elapsed = started.elapsed();
        if args.max_seconds.is_some_and(|m| elapsed.as_secs() >= m) {
            break;
        }
        let race_now = config.starts_at.0 + (elapsed.as_secs_f64() * args.speed * 1000.0) as i64;
        let due = reads[next..]
            .iter()
            .take_while(|r| r.at.0 <= race_now)
            .count();
        if due > 0 {
            let rows: Vec<Value> = reads[next..next + due].iter().map(detection_json).collect();
            let report = client.ingest(&event_id, &rows).await?;
            next += due;
            println!(
                "race time +{:>5}s: sent {due:>4}, accepted {}, duplicates {} ({next}/{})",
                (race_now - config.starts_at.0) / 1000,
                report["accepted"],
                report["duplicates"],
                reads.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("demo finished: event {event_id}");
    Ok(())
}
