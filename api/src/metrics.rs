//! What `/metrics` exports (Prometheus): the `metrics` crate's handles on this instance's own
//! recorder. It depends on no other module of podium, so every layer can count.

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// What `/metrics` exports, recorded with the `metrics` crate into this instance's own
/// Prometheus recorder (`metrics-exporter-prometheus`; not the process-wide one, so several
/// applications in one process — the tests — keep theirs apart). Labels are bounded: routes
/// as declared (`/v1/events/{event_id}/…`), methods, status classes, tiers, transports,
/// outcomes, pool states, webhook endpoints (as many as registered); never an event id or a
/// bib.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    ingest_requests: Counter,
    detections_accepted: Counter,
    detections_duplicate: Counter,
    detections_rejected: Counter,
    ingest_batch_rows: Histogram,
    subscription_steps_executed: Counter,
    subscription_frames_sent: Counter,
    websocket_connections: Gauge,
    webhook_backlog: Gauge,
    webhook_oldest_age: Gauge,
    push_latency: Histogram,
    live_feed_lag: Histogram,
    steps_read_by_notice: Counter,
    steps_read_by_poll: Counter,
    /// When this instance committed the latest ingested steps, for the push latency.
    accepted: std::sync::Mutex<AcceptedSteps>,
}

/// Records the time from its creation to its drop in a histogram.
pub struct Timer(Histogram, std::time::Instant);

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.record(self.1.elapsed().as_secs_f64());
    }
}

/// Counts one live subscription in `podium_subscriptions{tier}` while alive.
pub struct SubscriptionGauge(Gauge);

impl Drop for SubscriptionGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The commit instants of the latest ingested steps, by (event, seq), at most
/// `ACCEPTED_KEPT` of them.
#[derive(Default)]
struct AcceptedSteps {
    at: std::collections::HashMap<(uuid::Uuid, i64), std::time::Instant>,
    order: std::collections::VecDeque<(uuid::Uuid, i64)>,
}

const ACCEPTED_KEPT: usize = 4_096;

static METADATA: Metadata<'static> = Metadata::new("podium", metrics::Level::INFO, None);

/// Latency buckets (seconds): 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Rows per ingest request.
const BATCH_BUCKETS: [f64; 9] = [
    1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("podium_ingest_batch_rows".into()),
                    &BATCH_BUCKETS,
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let describe = |name: &'static str, help: &'static str| {
            recorder.describe_counter(name.into(), None, help.into());
        };
        describe("podium_ingest_requests_total", "Ingest requests handled.");
        describe(
            "podium_detections_accepted_total",
            "New raw detections stored.",
        );
        describe(
            "podium_detections_duplicate_total",
            "Detections recognised as duplicates.",
        );
        describe(
            "podium_detections_rejected_total",
            "Detections rejected as invalid.",
        );
        describe(
            "podium_subscription_steps_executed_total",
            "Live subscription steps executed (once per group of shared subscriptions).",
        );
        describe(
            "podium_subscription_frames_sent_total",
            "Live subscription messages written to sockets.",
        );
        recorder.describe_histogram(
            "podium_ingest_batch_rows".into(),
            None,
            "Rows per ingest request.".into(),
        );
        recorder.describe_histogram(
            "podium_http_request_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "HTTP requests by declared route, method and status class.".into(),
        );
        recorder.describe_counter(
            "podium_rate_limit_refusals_total".into(),
            None,
            "Charges refused by the rate limits (HTTP 429, GraphQL RATE_LIMITED, WebSocket 4429), \
             by tier and transport."
                .into(),
        );
        recorder.describe_counter(
            "podium_webhook_attempts_total".into(),
            None,
            "Webhook delivery attempts by endpoint (webhook id) and outcome (delivered, failed, \
             gave_up)."
                .into(),
        );
        recorder.describe_histogram(
            "podium_webhook_attempt_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "Webhook delivery attempts' duration by outcome.".into(),
        );
        recorder.describe_gauge(
            "podium_webhook_backlog".into(),
            None,
            "Webhook deliveries neither delivered nor given up.".into(),
        );
        recorder.describe_gauge(
            "podium_webhook_oldest_undelivered_seconds".into(),
            None,
            "Age of the oldest webhook delivery neither delivered nor given up (0 for none)."
                .into(),
        );
        recorder.describe_histogram(
            "podium_push_latency_seconds".into(),
            Some(metrics::Unit::Seconds),
            "From an ingest's commit to its step's live message being ready for a group of \
             subscribers on the same instance (once per group and step)."
                .into(),
        );
        recorder.describe_histogram(
            "podium_live_feed_lag_seconds".into(),
            Some(metrics::Unit::Seconds),
            "From a step's announcement (by the instance that wrote it, local or through \
             Redis) to this instance's live feed reading it from the change log."
                .into(),
        );
        recorder.describe_counter(
            "podium_live_steps_read_total".into(),
            None,
            "Change-log steps read by this instance's live feeds, by what prompted the read \
             (notice: announced here or through Redis; poll: found by the periodic check, \
             i.e. missed by the fan-out)."
                .into(),
        );
        recorder.describe_gauge(
            "podium_db_pool_connections".into(),
            None,
            "Database connections of this instance's pool, in use and idle (read at scrape time)."
                .into(),
        );
        recorder.describe_gauge(
            "podium_redis_connected".into(),
            None,
            "1 while this instance reaches Redis (fan-out and shared rate limits), 0 while not."
                .into(),
        );
        recorder.describe_histogram(
            "podium_analytics_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "Analytics answers (computed or cached) by query: segment_stats, race_report, \
             compare_results, segment_leaderboard, athlete_trend, competition_stats."
                .into(),
        );
        recorder.describe_histogram(
            "podium_prediction_board_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "Building one event's live finish predictions at a step (once per event and step)."
                .into(),
        );
        recorder.describe_histogram(
            "podium_fatigue_forecast_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "Answering one fatigueForecast (model cached or fitted).".into(),
        );
        recorder.describe_gauge(
            "podium_subscriptions".into(),
            None,
            "Live subscriptions running, by the caller's tier.".into(),
        );
        recorder.describe_gauge(
            "podium_websocket_connections".into(),
            None,
            "Open WebSocket connections.".into(),
        );
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        Self {
            ingest_requests: counter("podium_ingest_requests_total"),
            detections_accepted: counter("podium_detections_accepted_total"),
            detections_duplicate: counter("podium_detections_duplicate_total"),
            detections_rejected: counter("podium_detections_rejected_total"),
            ingest_batch_rows: recorder.register_histogram(
                &Key::from_static_name("podium_ingest_batch_rows"),
                &METADATA,
            ),
            subscription_steps_executed: counter("podium_subscription_steps_executed_total"),
            subscription_frames_sent: counter("podium_subscription_frames_sent_total"),
            websocket_connections: recorder.register_gauge(
                &Key::from_static_name("podium_websocket_connections"),
                &METADATA,
            ),
            webhook_backlog: recorder
                .register_gauge(&Key::from_static_name("podium_webhook_backlog"), &METADATA),
            webhook_oldest_age: recorder.register_gauge(
                &Key::from_static_name("podium_webhook_oldest_undelivered_seconds"),
                &METADATA,
            ),
            push_latency: recorder.register_histogram(
                &Key::from_static_name("podium_push_latency_seconds"),
                &METADATA,
            ),
            live_feed_lag: recorder.register_histogram(
                &Key::from_static_name("podium_live_feed_lag_seconds"),
                &METADATA,
            ),
            steps_read_by_notice: recorder.register_counter(
                &Key::from_parts(
                    "podium_live_steps_read_total",
                    vec![Label::new("trigger", "notice")],
                ),
                &METADATA,
            ),
            steps_read_by_poll: recorder.register_counter(
                &Key::from_parts(
                    "podium_live_steps_read_total",
                    vec![Label::new("trigger", "poll")],
                ),
                &METADATA,
            ),
            accepted: Default::default(),
            handle: recorder.handle(),
            recorder,
        }
    }

    /// An ingest request handled: its rows accepted, recognised as duplicates, rejected.
    pub fn record_ingest(&self, accepted: u64, duplicates: u64, rejected: u64) {
        self.ingest_requests.increment(1);
        self.detections_accepted.increment(accepted);
        self.detections_duplicate.increment(duplicates);
        self.detections_rejected.increment(rejected);
        self.ingest_batch_rows
            .record((accepted + duplicates + rejected) as f64);
    }

    /// An ingest committed step `seq` of `event` now.
    pub fn step_accepted(&self, event: uuid::Uuid, seq: i64) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        if accepted
            .at
            .insert((event, seq), std::time::Instant::now())
            .is_none()
        {
            accepted.order.push_back((event, seq));
        }
        while accepted.order.len() > ACCEPTED_KEPT {
            if let Some(old) = accepted.order.pop_front() {
                accepted.at.remove(&old);
            }
        }
    }

    /// Step `seq` of `event` is ready to be pushed to a group of subscribers: its latency from
    /// the ingest's commit, when this instance committed it.
    pub fn step_ready(&self, event: uuid::Uuid, seq: i64) {
        let at = self
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .at
            .get(&(event, seq))
            .copied();
        if let Some(at) = at {
            self.push_latency.record(at.elapsed().as_secs_f64());
        }
    }

    /// One step of a group of live subscriptions executed.
    pub fn step_executed(&self) {
        self.subscription_steps_executed.increment(1);
    }

    /// One subscription message written to a socket.
    pub fn frame_sent(&self) {
        self.subscription_frames_sent.increment(1);
    }

    /// A WebSocket connection opened (`1.0`) or closed (`-1.0`).
    pub fn websocket_connections(&self, change: f64) {
        self.websocket_connections.increment(change);
    }

    /// An HTTP request answered: `route` as declared (or `unmatched`), its status class.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let class = match status {
            // The two answers an operator watches for are kept exact.
            429 => "429",
            503 => "503",
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let key = Key::from_parts(
            "podium_http_request_duration_seconds",
            vec![
                Label::new("route", route.to_owned()),
                Label::new("method", method.to_owned()),
                Label::new("status", class),
            ],
        );
        self.recorder
            .register_histogram(&key, &METADATA)
            .record(seconds);
    }

    /// A charge refused by the rate limits of `tier`, to a caller over `transport` (`http`,
    /// `websocket`).
    pub fn rate_limited(&self, tier: &'static str, transport: &'static str) {
        let key = Key::from_parts(
            "podium_rate_limit_refusals_total",
            vec![Label::new("tier", tier), Label::new("transport", transport)],
        );
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// Times one analytics answer, `query` naming which (`segment_stats`, `race_report`, …),
    /// until the returned timer drops.
    pub fn analytics_timer(&self, query: &'static str) -> Timer {
        let key = Key::from_parts(
            "podium_analytics_duration_seconds",
            vec![Label::new("query", query)],
        );
        Timer(
            self.recorder.register_histogram(&key, &METADATA),
            std::time::Instant::now(),
        )
    }

    /// Records how long one fatigue forecast took.
    pub fn observe_fatigue_forecast(&self, seconds: f64) {
        self.recorder
            .register_histogram(
                &Key::from_static_name("podium_fatigue_forecast_duration_seconds"),
                &METADATA,
            )
            .record(seconds);
    }

    /// Times building one event's live predictions at a step, until the timer drops.
    pub fn prediction_timer(&self) -> Timer {
        Timer(
            self.recorder.register_histogram(
                &Key::from_static_name("podium_prediction_board_duration_seconds"),
                &METADATA,
            ),
            std::time::Instant::now(),
        )
    }

    /// A live subscription of a caller in `tier` started; it counts until the guard drops.
    pub fn subscription_started(
        self: &std::sync::Arc<Self>,
        tier: &'static str,
    ) -> SubscriptionGauge {
        let gauge = self.recorder.register_gauge(
            &Key::from_parts("podium_subscriptions", vec![Label::new("tier", tier)]),
            &METADATA,
        );
        gauge.increment(1.0);
        SubscriptionGauge(gauge)
    }

    /// A webhook delivery attempt and its outcome (`delivered`, `failed` — will be retried —
    /// or `gave_up`).
    /// Counted by endpoint (its webhook id: as many as are registered) and outcome; timed by
    /// outcome.
    pub fn webhook_attempt(&self, endpoint: &str, outcome: &'static str, seconds: f64) {
        let labels = vec![Label::new("outcome", outcome)];
        let by_endpoint = vec![
            Label::new("endpoint", endpoint.to_owned()),
            Label::new("outcome", outcome),
        ];
        self.recorder
            .register_counter(
                &Key::from_parts("podium_webhook_attempts_total", by_endpoint),
                &METADATA,
            )
            .increment(1);
        self.recorder
            .register_histogram(
                &Key::from_parts("podium_webhook_attempt_duration_seconds", labels),
                &METADATA,
            )
            .record(seconds);
    }

    /// A live feed read `steps` new steps from the change log, prompted by a notice or not;
    /// `lag`: how long after its announcement the announced step was read.
    pub fn live_feed_read(&self, steps: u64, by_notice: bool, lag: Option<std::time::Duration>) {
        if by_notice {
            self.steps_read_by_notice.increment(steps);
        } else {
            self.steps_read_by_poll.increment(steps);
        }
        if let Some(lag) = lag {
            self.live_feed_lag.record(lag.as_secs_f64());
        }
    }

    /// Deliveries waiting (neither delivered nor given up) and the age of the oldest.
    pub fn webhook_backlog(&self, waiting: u64, oldest_age_seconds: f64) {
        self.webhook_backlog.set(waiting as f64);
        self.webhook_oldest_age.set(oldest_age_seconds);
    }

    /// Whether this instance reaches Redis (set when `/metrics` is read; not exposed without
    /// `redis_url`).
    pub fn redis_connected(&self, connected: bool) {
        self.recorder
            .register_gauge(&Key::from_static_name("podium_redis_connected"), &METADATA)
            .set(if connected { 1.0 } else { 0.0 });
    }

    /// The database pool: connections open and idle.
    pub fn database_pool(&self, open: u32, idle: u32) {
        for (state, n) in [("in_use", open.saturating_sub(idle)), ("idle", idle)] {
            let key = Key::from_parts(
                "podium_db_pool_connections",
                vec![Label::new("state", state)],
            );
            self.recorder
                .register_gauge(&key, &METADATA)
                .set(f64::from(n));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// The value of one exposed series (its name and labels as rendered), e.g.
    /// `podium_ingest_requests_total`.
    pub fn sample(&self, series: &str) -> Option<f64> {
        sample_in(&self.render(), series)
    }
}

/// The value of the series `series` (its name and labels exactly as rendered) in a Prometheus
/// text `exposition`.
pub fn sample_in(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
