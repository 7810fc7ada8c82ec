//! One typed settings tree: defaults → optional TOML file → `PODIUM_…` environment → flags.

use anyhow::Context;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// How spans travel to the OpenTelemetry collector (`otel_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum OtelProtocol {
    /// OTLP/HTTP with protobuf bodies (`POST {endpoint}/v1/traces`), port 4318 by convention.
    #[serde(rename = "http/protobuf")]
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC, port 4317 by convention.
    #[serde(rename = "grpc")]
    #[value(name = "grpc")]
    Grpc,
}

/// The `timescaledb` setting: `auto` uses TimescaleDB where the PostgreSQL server can (the
/// extension installed and preloaded), `off` keeps plain tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Timescaledb {
    #[default]
    Auto,
    Off,
}

impl From<Timescaledb> for podium_persistence::timescale::Mode {
    fn from(t: Timescaledb) -> Self {
        match t {
            Timescaledb::Auto => Self::Auto,
            Timescaledb::Off => Self::Off,
        }
    }
}

/// `development` (the default) serves GraphiQL, introspection and field suggestions;
/// `production` turns all three off unless `graphql_introspection` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Development,
    Production,
}

/// Every setting of podium. Each has a `PODIUM_<NAME>` environment variable, a key of the same
/// name in the optional TOML file (`PODIUM_CONFIG` or `--config`), and a `--flag`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// What loading noticed but did not refuse (unknown `PODIUM_…` variables), to log once
    /// telemetry runs.
    #[serde(skip)]
    pub notes: Vec<String>,
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// When set, `GET /metrics` is also served here without a token (an internal address
    /// that only the Prometheus scraper reaches); the public `/metrics` stays admin-only.
    pub metrics_bind: Option<SocketAddr>,
    /// Holds the SQLite database (when no database URL is set) and development keys.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; empty means the SQLite file in the data directory.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub database_url: Option<SecretString>,
    /// Redis for multi-instance deployments: live updates ingested on one instance reach
    /// subscribers on every instance.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub redis_url: Option<SecretString>,
    /// Base64 of 32 bytes: seals token-signing keys and webhook secrets in the database
    /// (AES-256-GCM). Unset: they are stored in clear.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub secrets_key: Option<SecretString>,
    /// `auto`: TimescaleDB where the PostgreSQL server can (installed and preloaded); `off`:
    /// plain tables even there.
    pub timescaledb: Timescaledb,
    /// On TimescaleDB (community edition), wellness samples older than this many days are
    /// compressed.
    pub wellness_compress_after_days: u32,
    /// On TimescaleDB, raw detections older than this many days are dropped (0: kept forever;
    /// results and corrections are kept either way).
    pub detections_retention_days: u32,
    /// On TimescaleDB, wellness samples older than this many days are dropped (0: kept
    /// forever).
    pub wellness_retention_days: u32,
    pub mode: Mode,
    pub log_format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `podium_api=debug,info`.
    pub log_level: String,
    /// The OpenTelemetry collector spans are exported to (OTLP). Unset: the standard
    /// `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` decides; neither set: no spans leave the process.
    pub otel_endpoint: Option<String>,
    /// `http/protobuf` or `grpc`. Unset: `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, else
    /// `http/protobuf`.
    pub otel_protocol: Option<OtelProtocol>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers, in milliseconds (then the connection
    /// is closed).
    pub http_header_timeout_ms: u64,
    /// Time a client has to send a request's body, in milliseconds (then 408 and the
    /// connection is closed).
    pub http_body_timeout_ms: u64,
    /// Connections one address may hold open at once (0: no cap); beyond it a connection gets
    /// 429 and is closed. Counted before any token is read, so it bounds every caller.
    pub max_connections_per_address: usize,
    /// Most detections accepted in one ingest request.
    pub max_batch: usize,
    /// Seconds a WebSocket client has to send `connection_init` (then: close 4408).
    pub ws_init_timeout_secs: u64,
    /// Largest WebSocket frame or message a client may send, in bytes (then: close 1009,
    /// without reading the rest).
    pub ws_max_message_bytes: usize,
    /// Milliseconds a live feed waits for a change notice before it checks the change log
    /// anyway: the bound on how late a change from another instance can arrive when Redis lost
    /// its notice (or without Redis).
    pub live_poll_ms: u64,
    /// Steps of each event kept in memory for live subscribers; one that falls further behind
    /// reads the change log instead.
    pub live_recent_steps: usize,
    /// The day seasons start, `MM-DD` (segment leaderboards and competition statistics by
    /// season); `01-01`: calendar years.
    pub season_start: String,
    /// Retrain the finish prediction model in the background when an event becomes official
    /// (or an import ends); `trainPredictionModel` trains on demand either way.
    pub prediction_retrain: bool,
    /// Introspection, field suggestions and GraphiQL; unset: on in development, off in
    /// production.
    pub graphql_introspection: Option<bool>,
    /// Deepest selection nesting a query may have.
    pub graphql_max_depth: usize,
    /// Highest complexity (one per field, times list sizes asked for) a query may have.
    pub graphql_max_complexity: usize,
    /// Most aliases in one query document (alias overloading).
    pub graphql_max_aliases: usize,
    /// Most field selections in one query document (field duplication).
    pub graphql_max_fields: usize,
    /// Most directives on one field (directive overloading).
    pub graphql_max_directives: usize,
    /// Longest query text, in bytes.
    pub graphql_max_query_bytes: usize,
    /// Longest a GraphQL request over HTTP may run, in milliseconds (then: 503 `TIMEOUT`).
    pub graphql_timeout_ms: u64,
    /// Longest a request waits for a database connection, in milliseconds; then it is answered
    /// 503 `DATABASE_UNAVAILABLE` with `Retry-After`, and until a probe reaches the database
    /// again every request that needs it is answered so at once.
    pub database_acquire_timeout_ms: u64,
    /// How often the webhook dispatcher looks for new messages and due deliveries, in ms.
    pub webhook_poll_ms: u64,
    /// How long an endpoint has to answer a delivery, in ms.
    pub webhook_timeout_ms: u64,
    /// `athlete.fatigue_alert` is sent when the uncoupled ACWR leaves
    /// `fatigue_alert_acwr_low`–`fatigue_alert_acwr_high` or TSB falls below
    /// `fatigue_alert_tsb_floor`.
    pub fatigue_alert_acwr_low: f64,
    pub fatigue_alert_acwr_high: f64,
    pub fatigue_alert_tsb_floor: f64,
    /// Attempts per delivery (in one run) before it is given up, whatever the window says.
    pub webhook_max_attempts: u32,
    /// The unit of the retry schedule, in ms: retries wait 1, 60, 360, 1440, 3600, then 7200
    /// units (5 s, 5 min, 30 min, 2 h, 5 h, 10 h … with the default), ±20 % jitter.
    pub webhook_retry_base_ms: u64,
    /// How long a delivery is retried before it is given up, in seconds (3 days).
    pub webhook_retry_window_secs: u64,
    /// Trusted reverse proxies in front of podium: the caller's address is the one the
    /// outermost of them appended to `X-Forwarded-For`; 0 trusts no header.
    pub forwarded_for_hops: usize,
    /// `iss` of tokens podium mints and accepts.
    pub issuer: String,
    /// `aud` podium requires in tokens.
    pub audience: String,
    /// Accept development tokens (`podium token`); unset: only in development.
    pub dev_tokens: Option<bool>,
    /// `iss` of an external identity provider whose tokens podium accepts.
    pub oauth_issuer: Option<String>,
    /// The external issuer's JWKS (its public signing keys).
    pub oauth_jwks_url: Option<String>,
    /// Require the `typ: at+jwt` header (RFC 9068); turn off for issuers that omit it.
    pub oauth_require_typ: bool,
    /// Seconds a fetched JWKS is used before it is fetched again.
    pub oauth_jwks_max_age_secs: u64,
    /// Fewest seconds between two JWKS fetches caused by unknown `kid`s.
    pub oauth_jwks_refetch_secs: u64,
    /// Lifetime of access tokens `/oauth/token` issues, in seconds.
    pub token_ttl_secs: u64,
    /// Failed `/oauth/token` attempts allowed per minute per client id and per address.
    pub oauth_failures_per_min: u32,
    /// Cost units per minute for anonymous callers (per address); a GraphQL request costs its complexity.
    pub rate_limit_anonymous: u32,
    /// Cost units per minute for the free tier (athletes, coaches, free API clients).
    pub rate_limit_free: u32,
    /// Cost units per minute for the pro tier (venue operators, pro API clients).
    pub rate_limit_pro: u32,
    /// Cost units per minute for the enterprise tier (admins, enterprise API clients).
    pub rate_limit_enterprise: u32,
    /// Concurrent subscriptions per anonymous caller (per address).
    pub ws_max_subscriptions_anonymous: u32,
    /// Concurrent subscriptions per free-tier caller.
    pub ws_max_subscriptions_free: u32,
    /// Concurrent subscriptions per pro-tier caller.
    pub ws_max_subscriptions_pro: u32,
    /// Concurrent subscriptions per enterprise-tier caller.
    pub ws_max_subscriptions_enterprise: u32,
    /// WebSocket messages per second a connection may send, anonymous.
    pub ws_messages_per_sec_anonymous: u32,
    /// WebSocket messages per second a connection may send, free tier.
    pub ws_messages_per_sec_free: u32,
    /// WebSocket messages per second a connection may send, pro tier.
    pub ws_messages_per_sec_pro: u32,
    /// WebSocket messages per second a connection may send, enterprise tier.
    pub ws_messages_per_sec_enterprise: u32,
}

fn serialize_secret_opt<S: serde::Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notes: Vec::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_bind: None,
            data_dir: PathBuf::from("./podium-data"),
            database_url: None,
            redis_url: None,
            secrets_key: None,
            timescaledb: Timescaledb::Auto,
            wellness_compress_after_days: 30,
            detections_retention_days: 0,
            wellness_retention_days: 0,
            mode: Mode::Development,
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            otel_endpoint: None,
            otel_protocol: None,
            max_body_bytes: 8 * 1024 * 1024,
            max_batch: 10_000,
            http_header_timeout_ms: 10_000,
            http_body_timeout_ms: 30_000,
            max_connections_per_address: 256,
            ws_init_timeout_secs: 10,
            ws_max_message_bytes: 65_536,
            live_poll_ms: 2000,
            live_recent_steps: 1024,
            season_start: "01-01".to_owned(),
            prediction_retrain: true,
            graphql_introspection: None,
            graphql_max_depth: 12,
            graphql_max_complexity: 20_000,
            graphql_max_aliases: 15,
            graphql_max_fields: 500,
            graphql_max_directives: 10,
            graphql_max_query_bytes: 16 * 1024,
            graphql_timeout_ms: 10_000,
            database_acquire_timeout_ms: 3_000,
            webhook_poll_ms: 1_000,
            webhook_timeout_ms: 15_000,
            fatigue_alert_acwr_low: 0.8,
            fatigue_alert_acwr_high: 1.5,
            fatigue_alert_tsb_floor: -30.0,
            webhook_max_attempts: 20,
            webhook_retry_base_ms: 5_000,
            webhook_retry_window_secs: 3 * 24 * 3600,
            forwarded_for_hops: 0,
            issuer: "podium".to_owned(),
            audience: "podium".to_owned(),
            dev_tokens: None,
            oauth_issuer: None,
            oauth_jwks_url: None,
            oauth_require_typ: true,
            oauth_jwks_max_age_secs: 600,
            oauth_jwks_refetch_secs: 30,
            token_ttl_secs: 900,
            oauth_failures_per_min: 10,
            rate_limit_anonymous: 30_000,
            rate_limit_free: 60_000,
            rate_limit_pro: 300_000,
            rate_limit_enterprise: 3_000_000,
            ws_max_subscriptions_anonymous: 20,
            ws_max_subscriptions_free: 50,
            ws_max_subscriptions_pro: 500,
            ws_max_subscriptions_enterprise: 5000,
            ws_messages_per_sec_anonymous: 10,
            ws_messages_per_sec_free: 20,
            ws_messages_per_sec_pro: 100,
            ws_messages_per_sec_enterprise: 500,
        }
    }
}

impl Settings {
    /// What TimescaleDB keeps and compresses, from the settings.
    pub fn timescale_policies(&self) -> podium_persistence::timescale::Policies {
        podium_persistence::timescale::Policies {
            wellness_compress_after_days: self.wellness_compress_after_days,
            detections_retention_days: self.detections_retention_days,
            wellness_retention_days: self.wellness_retention_days,
        }
    }

    /// Loads settings: defaults, then `file` (if any), then `PODIUM_*` variables from `env`,
    /// then `overrides` (command-line flags). Unknown keys are an error.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &SettingsOverrides,
    ) -> anyhow::Result<Self> {
        let known = known_keys();
        let mut notes = Vec::new();
        // Where each setting came from, to name it in an error.
        let mut sources: std::collections::HashMap<String, String> = Default::default();
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("config file {}", file.display()))?;
            let table: toml::Table = text
                .parse()
                .with_context(|| format!("config file {} is not valid TOML", file.display()))?;
            for key in table.keys() {
                if !known.contains(key) {
                    anyhow::bail!(
                        "config file {}: unknown setting `{key}`{}",
                        file.display(),
                        closest(key, &known)
                            .map(|k| format!(" (did you mean `{k}`?)"))
                            .unwrap_or_default()
                    );
                }
                sources.insert(key.clone(), format!("config file {}", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut vars = figment::value::Dict::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("PODIUM_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if key == "config" {
                continue;
            }
            if !known.contains(&key) {
                if !is_service_link(&key) {
                    notes.push(unknown_variable(&name, &key, &known));
                }
                continue;
            }
            // Typed like figment's own `Env` provider: "50" is a number, "true" a bool.
            let typed = value
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| value.clone().into());
            sources.insert(key.clone(), name);
            vars.insert(key, typed);
        }
        figment = figment.merge(Serialized::defaults(vars));
        if let Ok(serde_json::Value::Object(flags)) = serde_json::to_value(overrides) {
            for key in flags.keys() {
                sources.insert(key.clone(), format!("--{}", key.replace('_', "-")));
            }
        }
        figment = figment.merge(Serialized::defaults(overrides));
        let mut settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.last().cloned().unwrap_or_default();
            let source = sources
                .get(&key)
                .cloned()
                .unwrap_or_else(|| "the defaults".to_owned());
            anyhow::anyhow!("setting `{key}` (from {source}): {}", e.kind)
        })?;
        settings.notes = notes;
        if settings
            .database_url
            .as_ref()
            .is_some_and(|u| u.expose_secret().trim().is_empty())
        {
            settings.database_url = None;
        }
        if settings
            .redis_url
            .as_ref()
            .is_some_and(|u| u.expose_secret().trim().is_empty())
        {
            settings.redis_url = None;
        }
        Ok(settings)
    }

    /// Loads from the process environment (and `PODIUM_CONFIG` when set).
    pub fn from_env(
        config: Option<PathBuf>,
        overrides: &SettingsOverrides,
    ) -> anyhow::Result<Self> {
        let file = config.or_else(|| std::env::var_os("PODIUM_CONFIG").map(PathBuf::from));
        Self::load(file.as_deref(), std::env::vars(), overrides)
    }

    /// Whether introspection, field suggestions and GraphiQL are served.
    pub fn introspection(&self) -> bool {
        self.graphql_introspection
            .unwrap_or(self.mode == Mode::Development)
    }

    /// Whether development tokens (`podium token`) are accepted.
    pub fn dev_tokens(&self) -> bool {
        self.dev_tokens.unwrap_or(self.mode == Mode::Development)
    }

    /// The database URL in use: the configured one, or the SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("podium.db").display()
            ),
        }
    }
}

/// The name of every setting.
fn known_keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => Vec::new(),
    }
}

/// Variables Kubernetes (service links of a Service named `podium`) and Docker links define
/// in a container's environment: `PODIUM_SERVICE_HOST`, `PODIUM_SERVICE_PORT[_<NAME>]`,
/// `PODIUM_PORT`, `PODIUM_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`, `PODIUM_NAME`,
/// `PODIUM_ENV_<VAR>`. They are not settings and are ignored. (`key` is lowercase, without the
/// prefix.)
fn is_service_link(key: &str) -> bool {
    let port_link = |rest: &str| {
        let mut parts = rest.split('_');
        let port = parts.next().unwrap_or_default();
        let proto = parts.next().unwrap_or_default();
        let field = parts.next();
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && matches!(proto, "tcp" | "udp" | "sctp")
            && matches!(field, None | Some("proto" | "port" | "addr"))
            && parts.next().is_none()
    };
    key == "service_host"
        || key == "service_port"
        || key.starts_with("service_port_")
        || key == "port"
        || key.strip_prefix("port_").is_some_and(port_link)
        || key == "name"
        || key.starts_with("env_")
}

/// The known setting closest to an unknown key, when one is close enough to be a typo.
fn closest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k.as_str())
}

fn unknown_variable(name: &str, key: &str, known: &[String]) -> String {
    match closest(key, known) {
        Some(k) => format!(
            "ignoring {name}: podium has no such setting; did you mean PODIUM_{}?",
            k.to_ascii_uppercase()
        ),
        None => format!("ignoring {name}: podium has no such setting"),
    }
}

/// Settings given as command-line flags; `None` leaves the lower layers in charge.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct SettingsOverrides {
    /// Address to listen on [env: PODIUM_BIND] [default: 127.0.0.1:8080]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// Internal address serving `/metrics` without a token [env: PODIUM_METRICS_BIND] [default: none]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<SocketAddr>,
    /// Data directory for the SQLite file and development keys [env: PODIUM_DATA_DIR] [default: ./podium-data]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, postgres://… or sqlite://… [env: PODIUM_DATABASE_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Redis URL for multi-instance deployments [env: PODIUM_REDIS_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Base64 of 32 bytes sealing stored secrets [env: PODIUM_SECRETS_KEY]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_key: Option<String>,
    /// TimescaleDB where the server can, or plain tables [env: PODIUM_TIMESCALEDB] [default: auto]
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timescaledb: Option<Timescaledb>,
    /// Compress wellness samples older than this many days (TimescaleDB) [env: PODIUM_WELLNESS_COMPRESS_AFTER_DAYS] [default: 30]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wellness_compress_after_days: Option<u32>,
    /// Drop raw detections older than this many days, 0 keeps them (TimescaleDB) [env: PODIUM_DETECTIONS_RETENTION_DAYS] [default: 0]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detections_retention_days: Option<u32>,
    /// Drop wellness samples older than this many days, 0 keeps them (TimescaleDB) [env: PODIUM_WELLNESS_RETENTION_DAYS] [default: 0]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wellness_retention_days: Option<u32>,
    /// development or production [env: PODIUM_MODE] [default: development]
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Log format [env: PODIUM_LOG_FORMAT] [default: pretty]
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter [env: PODIUM_LOG_LEVEL] [default: info]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// OpenTelemetry collector receiving spans over OTLP [env: PODIUM_OTEL_ENDPOINT] [default: OTEL_EXPORTER_OTLP_ENDPOINT, else none]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otel_endpoint: Option<String>,
    /// OTLP transport [env: PODIUM_OTEL_PROTOCOL] [default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf]
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otel_protocol: Option<OtelProtocol>,
    /// Largest request body in bytes [env: PODIUM_MAX_BODY_BYTES] [default: 8388608]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Most detections per ingest request [env: PODIUM_MAX_BATCH] [default: 10000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<usize>,
    /// Milliseconds a client has to send a request's headers [env: PODIUM_HTTP_HEADER_TIMEOUT_MS] [default: 10000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request's body, then 408 [env: PODIUM_HTTP_BODY_TIMEOUT_MS] [default: 30000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_body_timeout_ms: Option<u64>,
    /// Connections one address may hold open at once, 0 for no cap [env: PODIUM_MAX_CONNECTIONS_PER_ADDRESS] [default: 256]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds to wait for a WebSocket `connection_init` [env: PODIUM_WS_INIT_TIMEOUT_SECS] [default: 10]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_init_timeout_secs: Option<u64>,
    /// Largest WebSocket message from a client in bytes, then close 1009 [env: PODIUM_WS_MAX_MESSAGE_BYTES] [default: 65536]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_message_bytes: Option<usize>,
    /// Milliseconds between change-log checks of a live feed without notices [env: PODIUM_LIVE_POLL_MS] [default: 2000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_poll_ms: Option<u64>,
    /// Steps per event kept in memory for live subscribers [env: PODIUM_LIVE_RECENT_STEPS] [default: 1024]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_recent_steps: Option<usize>,
    /// The day seasons start, MM-DD [env: PODIUM_SEASON_START] [default: 01-01]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub season_start: Option<String>,
    /// Retrain the prediction model when an event becomes official [env: PODIUM_PREDICTION_RETRAIN] [default: true]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_retrain: Option<bool>,
    /// Introspection, suggestions and GraphiQL on or off [env: PODIUM_GRAPHQL_INTROSPECTION] [default: on in development, off in production]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_introspection: Option<bool>,
    /// Deepest query nesting [env: PODIUM_GRAPHQL_MAX_DEPTH] [default: 12]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_depth: Option<usize>,
    /// Highest query complexity [env: PODIUM_GRAPHQL_MAX_COMPLEXITY] [default: 20000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_complexity: Option<usize>,
    /// Most aliases per query [env: PODIUM_GRAPHQL_MAX_ALIASES] [default: 15]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_aliases: Option<usize>,
    /// Most field selections per query [env: PODIUM_GRAPHQL_MAX_FIELDS] [default: 500]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_fields: Option<usize>,
    /// Most directives per field [env: PODIUM_GRAPHQL_MAX_DIRECTIVES] [default: 10]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_directives: Option<usize>,
    /// Longest query text in bytes [env: PODIUM_GRAPHQL_MAX_QUERY_BYTES] [default: 16384]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_max_query_bytes: Option<usize>,
    /// Webhook dispatcher interval in ms [env: PODIUM_WEBHOOK_POLL_MS] [default: 1000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_poll_ms: Option<u64>,
    /// Webhook delivery timeout in ms [env: PODIUM_WEBHOOK_TIMEOUT_MS] [default: 15000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_timeout_ms: Option<u64>,
    /// Attempts per webhook delivery [env: PODIUM_WEBHOOK_MAX_ATTEMPTS] [default: 20]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_max_attempts: Option<u32>,
    /// Unit of the webhook retry schedule in ms [env: PODIUM_WEBHOOK_RETRY_BASE_MS] [default: 5000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_retry_base_ms: Option<u64>,
    /// Seconds a webhook delivery is retried [env: PODIUM_WEBHOOK_RETRY_WINDOW_SECS] [default: 259200]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_retry_window_secs: Option<u64>,
    /// Trusted proxies appending to X-Forwarded-For [env: PODIUM_FORWARDED_FOR_HOPS] [default: 0]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_for_hops: Option<usize>,
    /// Longest GraphQL request in milliseconds [env: PODIUM_GRAPHQL_TIMEOUT_MS] [default: 10000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql_timeout_ms: Option<u64>,
    /// Longest wait for a database connection in milliseconds, then 503 [env: PODIUM_DATABASE_ACQUIRE_TIMEOUT_MS] [default: 3000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_acquire_timeout_ms: Option<u64>,
    /// Accept development tokens [env: PODIUM_DEV_TOKENS] [default: on in development, off in production]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_tokens: Option<bool>,
    /// External token issuer [env: PODIUM_OAUTH_ISSUER]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_issuer: Option<String>,
    /// External issuer's JWKS URL [env: PODIUM_OAUTH_JWKS_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_jwks_url: Option<String>,
    /// Require typ at+jwt [env: PODIUM_OAUTH_REQUIRE_TYP] [default: true]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_require_typ: Option<bool>,
    /// JWKS cache lifetime in seconds [env: PODIUM_OAUTH_JWKS_MAX_AGE_SECS] [default: 600]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_jwks_max_age_secs: Option<u64>,
    /// Seconds between JWKS refetches for unknown kids [env: PODIUM_OAUTH_JWKS_REFETCH_SECS] [default: 30]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_jwks_refetch_secs: Option<u64>,
    /// Client-credentials token lifetime in seconds [env: PODIUM_TOKEN_TTL_SECS] [default: 900]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ttl_secs: Option<u64>,
    /// Failed /oauth/token attempts per minute [env: PODIUM_OAUTH_FAILURES_PER_MIN] [default: 10]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_failures_per_min: Option<u32>,
    /// Cost units per minute, anonymous [env: PODIUM_RATE_LIMIT_ANONYMOUS] [default: 30000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_anonymous: Option<u32>,
    /// Cost units per minute, free tier [env: PODIUM_RATE_LIMIT_FREE] [default: 60000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_free: Option<u32>,
    /// Cost units per minute, pro tier [env: PODIUM_RATE_LIMIT_PRO] [default: 300000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_pro: Option<u32>,
    /// Cost units per minute, enterprise tier [env: PODIUM_RATE_LIMIT_ENTERPRISE] [default: 3000000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_enterprise: Option<u32>,
    /// Concurrent subscriptions, anonymous [env: PODIUM_WS_MAX_SUBSCRIPTIONS_ANONYMOUS] [default: 20]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_subscriptions_anonymous: Option<u32>,
    /// Concurrent subscriptions, free tier [env: PODIUM_WS_MAX_SUBSCRIPTIONS_FREE] [default: 50]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_subscriptions_free: Option<u32>,
    /// Concurrent subscriptions, pro tier [env: PODIUM_WS_MAX_SUBSCRIPTIONS_PRO] [default: 500]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_subscriptions_pro: Option<u32>,
    /// Concurrent subscriptions, enterprise tier [env: PODIUM_WS_MAX_SUBSCRIPTIONS_ENTERPRISE] [default: 5000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_subscriptions_enterprise: Option<u32>,
    /// WebSocket messages per second, anonymous [env: PODIUM_WS_MESSAGES_PER_SEC_ANONYMOUS] [default: 10]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_per_sec_anonymous: Option<u32>,
    /// WebSocket messages per second, free tier [env: PODIUM_WS_MESSAGES_PER_SEC_FREE] [default: 20]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_per_sec_free: Option<u32>,
    /// WebSocket messages per second, pro tier [env: PODIUM_WS_MESSAGES_PER_SEC_PRO] [default: 100]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_per_sec_pro: Option<u32>,
    /// WebSocket messages per second, enterprise tier [env: PODIUM_WS_MESSAGES_PER_SEC_ENTERPRISE] [default: 500]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_per_sec_enterprise: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load(None, env, &SettingsOverrides::default())
    }

    #[test]
    fn the_defaults_load() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./podium-data"));
        assert!(s.database_url.is_none());
        assert_eq!(
            s.effective_database_url(),
            "sqlite://./podium-data/podium.db?mode=rwc"
        );
    }

    #[test]
    fn environment_overrides_defaults_and_flags_override_environment() {
        let s = load(&[
            ("PODIUM_DATABASE_URL", "postgres://x/y"),
            ("PODIUM_MAX_BATCH", "50"),
            ("HOME", "/root"),
        ])
        .unwrap();
        assert_eq!(s.effective_database_url(), "postgres://x/y");
        assert_eq!(s.max_batch, 50);
        let flags = SettingsOverrides {
            max_batch: Some(7),
            ..Default::default()
        };
        let env = [("PODIUM_MAX_BATCH".to_string(), "50".to_string())];
        assert_eq!(Settings::load(None, env, &flags).unwrap().max_batch, 7);
    }

    #[test]
    fn kubernetes_and_docker_link_variables_are_ignored() {
        // What Kubernetes injects for a Service named `podium`, and Docker links.
        let s = load(&[
            ("PODIUM_PORT", "tcp://10.0.0.7:8080"),
            ("PODIUM_SERVICE_HOST", "10.0.0.7"),
            ("PODIUM_SERVICE_PORT", "8080"),
            ("PODIUM_SERVICE_PORT_HTTP", "8080"),
            ("PODIUM_PORT_8080_TCP", "tcp://10.0.0.7:8080"),
            ("PODIUM_PORT_8080_TCP_PROTO", "tcp"),
            ("PODIUM_PORT_8080_TCP_PORT", "8080"),
            ("PODIUM_PORT_8080_TCP_ADDR", "10.0.0.7"),
            ("PODIUM_NAME", "/web/podium"),
            ("PODIUM_ENV_FOO", "bar"),
            ("PODIUM_MAX_BATCH", "50"),
        ])
        .unwrap();
        assert_eq!(s.max_batch, 50);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn an_unknown_variable_is_a_warning_naming_the_closest_setting() {
        let s = load(&[("PODIUM_DATABSE_URL", "postgres://x/y")]).unwrap();
        assert!(s.database_url.is_none());
        assert_eq!(
            s.notes,
            ["ignoring PODIUM_DATABSE_URL: podium has no such setting; did you mean PODIUM_DATABASE_URL?"]
        );
        let s = load(&[("PODIUM_WHATEVER", "1")]).unwrap();
        assert_eq!(
            s.notes,
            ["ignoring PODIUM_WHATEVER: podium has no such setting"]
        );
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = load(&[("PODIUM_MAX_BATCH", "many")]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("`max_batch`"), "{message}");
        assert!(message.contains("PODIUM_MAX_BATCH"), "{message}");
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("podium-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("podium.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\nlog_levle = \"debug\"\n").unwrap();
        let err = Settings::load(Some(&file), [], &SettingsOverrides::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown setting `log_levle`"), "{message}");
        assert!(message.contains("did you mean `log_level`"), "{message}");
        assert!(message.contains("podium.toml"), "{message}");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\nmax_batch = \"x\"\n").unwrap();
        let err = Settings::load(Some(&file), [], &SettingsOverrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("from config file"), "{err:#}");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\n").unwrap();
        let s = Settings::load(Some(&file), [], &SettingsOverrides::default()).unwrap();
        assert_eq!(s.bind.port(), 9000);
    }
}
