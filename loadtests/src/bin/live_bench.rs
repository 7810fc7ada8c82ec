//! Live-results benchmark: a swarm of WebSocket subscribers (graphql-transport-ws) on one
//! podium process, and a race publisher ingesting a simulated race at a fixed detection rate.
//!
//! Reports server memory per idle subscriber (RSS of the server process before and after the
//! swarm connects), latency from "ingest request sent" to "frame received" (p50/p99/p99.9/max;
//! the ingest itself is inside that figure), and, checked against the durable change log,
//! every message lost, duplicated or out of order (must all be 0: the run fails otherwise).
//!
//! The server is this same binary started in `--serve` mode as a separate process, so its memory
//! is its own. Both run on this machine and share its cores.
//!
//! cargo run --release -p podium-loadtests --bin live_bench -- --subscribers 10000

use anyhow::{bail, Context};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use podium_api::cli::demo::{create_simulated_event, detection_json};
use podium_domain::ports::RaceRepository;
use podium_loadtests::{admin_client, backend, on_fresh_database, quantile, race_day};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it and dropped after) or a sqlite:// URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Open WebSocket subscriptions, one per connection.
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    /// Share of subscribers following a leaderboard (every change); the others follow one
    /// athlete each (`entryUpdates` of a bib that races during the run).
    #[arg(long, default_value_t = 0.1)]
    leaderboard_share: f64,
    /// Detections per second the publisher ingests.
    #[arg(long, default_value_t = 500)]
    rate: usize,
    /// The publisher sends one batch every this many milliseconds (a timing system's upload
    /// interval); each batch is one step of the event's `seq`.
    #[arg(long, default_value_t = 200)]
    batch_ms: u64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    #[arg(long, default_value_t = 3_000)]
    entries: usize,
    /// Connections opened at once while the swarm connects.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Every subscription also asks for each row's finish prediction (the prior's, as the
    /// benchmark database has no history).
    #[arg(long)]
    predictions: bool,
    /// Internal: run as the server process on this database URL.
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// Internal: the server's data directory.
    #[arg(long, hide = true)]
    data_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    PREDICTIONS.store(args.predictions, Ordering::Relaxed);
    match &args.serve {
        Some(url) => serve(url, args.data_dir.clone().context("--data-dir")?).await,
        None => bench(args).await,
    }
}

/// Server mode: start podium, print its address, serve until killed.
async fn serve(database_url: &str, data_dir: PathBuf) -> anyhow::Result<()> {
    let settings = podium_loadtests::bench_settings(database_url, data_dir)?;
    podium_api::telemetry::init(settings.log_format, &settings.log_level);
    let state = podium_api::build_state(settings).await?;
    let app = podium_api::Application::build(state).await?;
    println!("LISTENING {}", app.local_addr());
    app.run_until(podium_api::shutdown_signal()).await
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// CPU time (user + system) a process has used, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed /proc/<pid>/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

#[derive(Clone)]
enum Follows {
    Entry(String),
    Leaderboard,
}

/// What one subscriber saw: its snapshot's seq, then every frame's seq and arrival time.
struct Log {
    follows: Follows,
    snapshot: i64,
    frames: Vec<(i64, Instant)>,
}

/// The first `"seq":<n>` of a frame: the update's seq (the query selects nothing else named seq).
fn frame_seq(text: &str) -> Option<i64> {
    let at = text.find("\"seq\":")? + 6;
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// `--predictions`, for every subscriber.
static PREDICTIONS: AtomicBool = AtomicBool::new(false);

async fn subscriber(
    url: String,
    event_id: String,
    follows: Follows,
    gate: Arc<Semaphore>,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
    received: Arc<AtomicUsize>,
) -> anyhow::Result<Log> {
    let predictions = PREDICTIONS.load(Ordering::Relaxed);
    // Held while connecting only: the gate limits connections being opened, not open ones.
    let mut permit = Some(gate.acquire_owned().await?);
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.send(Message::text(
        json!({ "type": "connection_init" }).to_string(),
    ))
    .await?;
    let prediction = if predictions {
        "prediction { finishMs lowMs highMs projectedRank }"
    } else {
        ""
    };
    let (query, variables) = match &follows {
        Follows::Entry(bib) => (
            format!("subscription($id: ID!, $bib: String!) {{ entryUpdates(eventId: $id, bib: $bib) {{ seq kind entry {{ bib status lastTimingPoint elapsedMs netTimeMs {prediction} }} }} }}"),
            json!({ "id": event_id, "bib": bib }),
        ),
        Follows::Leaderboard => (
            format!("subscription($id: ID!) {{ leaderboardUpdates(eventId: $id, category: OPEN, gender: MEN, first: 10) {{ seq kind entries {{ rank bib netTimeMs lastTimingPoint {prediction} }} }} }}"),
            json!({ "id": event_id }),
        ),
    };
    let mut snapshot = None;
    let mut frames = Vec::new();
    loop {
        let message = tokio::select! {
            m = ws.next() => m,
            _ = stop.wait_for(|s| *s) => break,
        };
        let text = match message {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => bail!("server closed the connection: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("socket error: {e}"),
            None => bail!("connection ended"),
        };
        let now = Instant::now();
        if text.contains("\"connection_ack\"") {
            ws.send(Message::text(
                json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } })
                    .to_string(),
            ))
            .await?;
            continue;
        }
        let Some(seq) = frame_seq(&text) else {
            bail!("unexpected frame: {text}");
        };
        if snapshot.is_none() {
            snapshot = Some(seq);
            permit.take();
            let _ = ready.send(()).await;
            continue;
        }
        frames.push((seq, now));
        received.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Log {
        follows,
        snapshot: snapshot.context("no snapshot")?,
        frames,
    })
}

async fn bench(args: Args) -> anyhow::Result<()> {
    if args.rate == 0 || args.batch_ms == 0 || args.subscribers == 0 {
        bail!("--rate, --batch-ms and --subscribers must be positive");
    }
    let args = &args;
    on_fresh_database(
        &args.database_url,
        |url| async move { run(args, &url).await },
    )
    .await
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    // The server: this binary in --serve mode.
    let data_dir = std::env::temp_dir().join(format!("podium-live-bench-{}", std::process::id()));
    // LIVE_BENCH_SERVER_WRAPPER runs the server under a profiler, e.g. "valgrind --tool=dhat".
    let wrapper = std::env::var("LIVE_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let mut command = wrapper.split_whitespace();
    let mut server = match command.next() {
        Some(program) => {
            let mut c = tokio::process::Command::new(program);
            c.args(command).arg(std::env::current_exe()?);
            c
        }
        None => tokio::process::Command::new(std::env::current_exe()?),
    };
    let mut server = server
        .arg("--serve")
        .arg(url)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().context("server pid")?;
    let mut lines = tokio::io::BufReader::new(server.stdout.take().context("stdout")?).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await?
            .context("server exited before listening")?;
        if let Some(addr) = line.strip_prefix("LISTENING ") {
            break addr.to_owned();
        }
    };
    let client = admin_client(&data_dir, &addr)?;

    // The race: reads in the order the mats see them, `rate` per second.
    let config = race_day(args.seed, args.entries, 0.0);
    let (event_id, mut race) = create_simulated_event(&client, "live benchmark", &config).await?;
    race.reads.sort_by_key(|r| r.at);
    let per_batch = (args.rate as u64 * args.batch_ms / 1000).max(1) as usize;
    let batches = (args.duration * 1000 / args.batch_ms) as usize;
    let reads = &race.reads[..(per_batch * batches).min(race.reads.len())];
    let batches: Vec<Vec<Value>> = reads
        .chunks(per_batch)
        .map(|c| c.iter().map(detection_json).collect())
        .collect();
    let racing: Vec<String> = reads
        .iter()
        .map(|r| r.bib.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    // The swarm.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let leaderboards = (args.subscribers as f64 * args.leaderboard_share).round() as usize;
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.subscribers);
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws_url = format!("ws://{addr}/graphql/ws");
    let received = Arc::new(AtomicUsize::new(0));
    let connecting = Instant::now();
    let swarm: Vec<_> = (0..args.subscribers)
        .map(|i| {
            let follows = if i < leaderboards {
                Follows::Leaderboard
            } else {
                Follows::Entry(racing.choose(&mut rng).cloned().unwrap_or_default())
            };
            tokio::spawn(subscriber(
                ws_url.clone(),
                event_id.clone(),
                follows,
                gate.clone(),
                ready_tx.clone(),
                stop_rx.clone(),
                received.clone(),
            ))
        })
        .collect();
    for _ in 0..args.subscribers {
        tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
            .await
            .context("the swarm did not connect within 120 s")?;
    }
    let connect_time = connecting.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = rss_kib(pid)?;

    // The publisher.
    let mut sent: HashMap<i64, Instant> = HashMap::new();
    let mut acked: HashMap<i64, Instant> = HashMap::new();
    let mut ingest_ms = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(args.batch_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let publishing = Instant::now();
    let (server_cpu, bench_cpu) = (cpu_seconds(pid)?, cpu_seconds(std::process::id())?);
    let mut last_seq = 0;
    for batch in &batches {
        ticker.tick().await;
        let at = Instant::now();
        let report = client.ingest(&event_id, batch).await?;
        ingest_ms.push(at.elapsed().as_secs_f64() * 1000.0);
        if report["accepted"].as_u64().unwrap_or(0) > 0 {
            last_seq = report["seq"].as_i64().context("seq in the ingest report")?;
            sent.insert(last_seq, at);
            acked.insert(last_seq, Instant::now());
        }
    }
    let publish_time = publishing.elapsed();
    let server_cpu = cpu_seconds(pid)? - server_cpu;
    let bench_cpu = cpu_seconds(std::process::id())? - bench_cpu;
    let rss_busy = rss_kib(pid)?;

    // Let the last frames arrive (until none came for 3 s, at most 2 minutes), then stop.
    let draining = Instant::now();
    let mut seen = received.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3)
        && draining.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = received.load(Ordering::Relaxed);
        if now != seen {
            (seen, quiet_since) = (now, Instant::now());
        }
    }
    let drain_time = draining.elapsed().saturating_sub(Duration::from_secs(3));
    stop_tx.send_replace(true);
    let mut logs = Vec::with_capacity(swarm.len());
    let mut failed = 0;
    for task in swarm {
        match task.await? {
            Ok(log) => logs.push(log),
            Err(e) => {
                failed += 1;
                eprintln!("subscriber failed: {e:#}");
            }
        }
    }
    // SIGTERM: a graceful exit (a profiler wrapper writes its report then).
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    if tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .is_err()
    {
        let _ = server.kill().await;
    }
    let _ = std::fs::remove_dir_all(&data_dir);

    // What each subscriber should have seen, from the durable change log.
    let repo =
        podium_persistence::SeaRepository::new(podium_persistence::connect(url).await?).await?;
    let event_uuid = event_id.parse()?;
    let first = logs.iter().map(|l| l.snapshot).min().unwrap_or(0);
    let mut steps: Vec<(i64, BTreeSet<String>)> = Vec::new();
    let mut cursor = first;
    loop {
        let page = repo.changes(event_uuid, cursor, 1000).await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        steps.extend(
            page.into_iter()
                .map(|c| (c.seq, c.entries.iter().map(|e| e.bib.to_string()).collect())),
        );
    }
    let (mut lost, mut duplicated, mut out_of_order, mut frames) = (0usize, 0usize, 0usize, 0usize);
    let mut latencies = Vec::new();
    let (mut entry_latencies, mut board_latencies) = (Vec::new(), Vec::new());
    let mut after_ack = Vec::new();
    for log in &logs {
        let expected: Vec<i64> = steps
            .iter()
            .filter(|(seq, bibs)| {
                *seq > log.snapshot
                    && match &log.follows {
                        Follows::Leaderboard => true,
                        Follows::Entry(bib) => bibs.contains(bib),
                    }
            })
            .map(|(seq, _)| *seq)
            .collect();
        let got: Vec<i64> = log.frames.iter().map(|(s, _)| *s).collect();
        let unique: BTreeSet<i64> = got.iter().copied().collect();
        duplicated += got.len() - unique.len();
        out_of_order += got.windows(2).filter(|w| w[1] <= w[0]).count();
        lost += expected.iter().filter(|s| !unique.contains(s)).count();
        frames += got.len();
        for (seq, at) in &log.frames {
            if let Some(acked_at) = acked.get(seq) {
                after_ack.push(at.saturating_duration_since(*acked_at).as_secs_f64() * 1000.0);
            }
            if let Some(sent_at) = sent.get(seq) {
                let ms = at.duration_since(*sent_at).as_secs_f64() * 1000.0;
                latencies.push(ms);
                match log.follows {
                    Follows::Entry(_) => entry_latencies.push(ms),
                    Follows::Leaderboard => board_latencies.push(ms),
                }
            }
        }
    }
    for samples in [
        &mut latencies,
        &mut entry_latencies,
        &mut board_latencies,
        &mut ingest_ms,
        &mut after_ack,
    ] {
        samples.sort_by(f64::total_cmp);
    }
    let summary = |samples: &[f64]| {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
            quantile(samples, 0.5),
            quantile(samples, 0.99),
            quantile(samples, 0.999),
            samples.last().copied().unwrap_or(f64::NAN)
        )
    };

    let detections: usize = batches.iter().map(Vec::len).sum();
    println!("backend              {}", backend(url));
    println!(
        "subscribers          {} ({leaderboards} leaderboardUpdates, {} entryUpdates), connected in {:.1} s",
        args.subscribers,
        args.subscribers - leaderboards,
        connect_time.as_secs_f64()
    );
    println!(
        "published            {detections} detections in {} batches over {:.1} s ({:.0} detections/s; last seq {last_seq})",
        batches.len(),
        publish_time.as_secs_f64(),
        detections as f64 / publish_time.as_secs_f64()
    );
    println!(
        "ingest request       p50 {:.1} ms, p99 {:.1} ms",
        quantile(&ingest_ms, 0.5),
        quantile(&ingest_ms, 0.99)
    );
    println!(
        "frames received      {frames} ({:.0}/s while publishing; the last {:.1} s after it)",
        frames as f64 / publish_time.as_secs_f64(),
        drain_time.as_secs_f64()
    );
    println!("latency sent→frame   {}", summary(&latencies));
    println!("  entryUpdates       {}", summary(&entry_latencies));
    println!("  leaderboardUpdates {}", summary(&board_latencies));
    println!(
        "response→frame       {} (0 when the frame came first)",
        summary(&after_ack)
    );
    println!(
        "CPU while publishing server {:.0} %, load generator {:.0} % (of one core; 2 cores)",
        100.0 * server_cpu / publish_time.as_secs_f64(),
        100.0 * bench_cpu / publish_time.as_secs_f64()
    );
    println!("lost                 {lost}");
    println!("duplicated           {duplicated}");
    println!("out of order         {out_of_order}");
    println!("failed subscribers   {failed}");
    println!(
        "server RSS           {:.1} MiB before the swarm, {:.1} MiB with it idle, {:.1} MiB after publishing",
        rss_before as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        rss_busy as f64 / 1024.0
    );
    println!(
        "per idle subscriber  {:.1} KiB",
        (rss_idle.saturating_sub(rss_before)) as f64 / args.subscribers as f64
    );
    if lost + duplicated + out_of_order + failed > 0 {
        bail!("live updates were lost, duplicated, reordered or dropped");
    }
    Ok(())
}
